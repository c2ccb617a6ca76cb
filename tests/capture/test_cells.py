"""Lines run in IPython are named by their cell (``In[2]``), as IPython's own tracebacks name them."""

from __future__ import annotations

import builtins
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from gradviz.capture.cells import cell_name
from gradviz.capture.location import frame_location


@pytest.fixture
def shell() -> Iterator[Any]:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # no history written to the user's ~/.ipython
    before = set(vars(builtins))
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()
    for name in set(vars(builtins)) - before:  # __IPYTHON__ would tell later tests they run in IPython
        delattr(builtins, name)


def test_a_cells_frame_is_named_by_its_execution_count(shell: Any) -> None:
    # Given: two cells run in an IPython shell, the second keeping its own frame
    shell.run_cell("a = 1", store_history=True)
    shell.run_cell("import sys\n\nframe = sys._getframe()", store_history=True)
    frame = shell.user_ns["frame"]

    where = frame_location(frame, root="/")

    # Then: line 3 of the second cell, with its code, not IPython's file name for it
    assert (where.file, where.line, str(where)) == ("In[2]", 3, "In[2]:3")
    assert where.code == "frame = sys._getframe()"
    assert cell_name(frame.f_code.co_filename) == "In[2]"


def test_a_file_is_no_cell(shell: Any) -> None:
    assert cell_name(__file__) is None
    assert frame_location(sys._getframe(), root=None).file == __file__
