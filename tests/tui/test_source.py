"""The source pane's file lookup (`gradviz.render.source`) and the line it shows past a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradviz.model import Location
from gradviz.render.source import find_source, read_source, source_folders
from gradviz.tui.app import GradvizApp
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.source_pane import SourcePane

from .builders import SCRIPT, failed_trace


def test_a_relative_location_is_found_in_the_script_folder_before_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the script in a sub-folder and a file of the same name in the current folder
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "train.py").write_text("a = 1\nb = 2\n")
    (tmp_path / "train.py").write_text("decoy\n")
    monkeypatch.chdir(tmp_path)
    folders = source_folders("project/train.py")

    found = find_source(Location("train.py", 2), folders)

    assert found == (tmp_path / "project" / "train.py").resolve()
    source = read_source(found)
    assert source is not None and source.lines == ("a = 1", "b = 2")
    assert source_folders("project/train.py", tmp_path / "elsewhere")[0] == (tmp_path / "elsewhere").resolve()


def test_absolute_missing_and_pseudo_files(tmp_path: Path) -> None:
    script = tmp_path / "abs.py"
    script.write_text("x = 1\n")
    assert find_source(Location(str(script), 1), ()) == script
    assert find_source(Location("gone.py", 1), (tmp_path,)) is None
    assert find_source(Location("<stdin>", 1), (tmp_path,)) is None
    (tmp_path / "folder.py").mkdir()
    assert find_source(Location("folder.py", 1), (tmp_path,)) is None, "a folder is not a script"


async def test_past_a_failure_the_source_shows_the_line_of_the_node_that_raised(tmp_path: Path) -> None:
    (tmp_path / SCRIPT).write_text("".join(f"line {number}\n" for number in range(1, 12)))
    trace = failed_trace()
    call = trace.backwards[1]
    assert call.error is not None and call.error.node is not None
    raised = call.graph.node(call.error.node).location
    assert raised is not None
    app = GradvizApp(trace, call=2, source_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t", "end")
        await pilot.pause()
        assert isinstance(app.screen, TraceScreen)
        source = app.screen.query_one(SourcePane)
        assert source.line == raised.line and source.border_subtitle == f"{SCRIPT}:{raised.line}"
        await pilot.press("home")
        root = call.graph.node(call.graph.roots[0].node).location
        assert root is not None and source.line == root.line, "step 0: the line of the root"
