"""Name a Jupyter cell the way IPython does (``In[3]``) instead of by its kernel's temporary file."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["cell_name"]


def _shell() -> Any:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if get_ipython is not None else None


def cell_name(filename: str) -> str | None:
    """The cell a code object's file stands for, as IPython's tracebacks name it.

    ipykernel compiles each cell under a temporary file name (``.../ipykernel_4242/1234.py``); IPython
    keeps which execution count it was.

    Args:
        filename: A frame's ``co_filename``.

    Returns:
        ``"In[3]"`` for the code of the cell run third, None outside IPython or for any other file.
    """
    shell = _shell()
    format_code_name = getattr(getattr(shell, "compile", None), "format_code_name", None)
    if format_code_name is None:
        return None
    try:
        found = format_code_name(filename)
    except Exception:  # an IPython that names cells differently: keep the file name
        return None
    if isinstance(found, tuple) and len(found) == 2 and isinstance(found[1], str):
        return found[1]
    return None
