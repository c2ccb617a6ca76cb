"""The source text the HTML export reads for the player's source pane (`gradviz.sourcefiles.read_sources`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gradviz.model import Trace
from gradviz.sourcefiles import read_sources

from .conftest import Builders

#: train.py as the tutorial trace recorded it: the nodes were made on lines 2 to 5.
TRAIN = (
    "import torch\nx = torch.tensor([1.0, 2.0], requires_grad=True)\n"
    "y = x**2\nz = y * y * 3\nout = z.mean()\n"
)


def _trace(build: type[Builders], script: Path) -> Trace:
    # The builders' locations carry no code; give them the text of TRAIN's lines, as capture would.
    lines = TRAIN.splitlines()
    trace = build.tutorial_trace()
    call = trace.backwards[0]
    nodes = tuple(
        replace(node, location=replace(node.location, line=2 + node.id % 4, code=lines[1 + node.id % 4]))
        if node.location is not None
        else node
        for node in call.graph.nodes
    )
    call = replace(call, location=None, graph=replace(call.graph, nodes=nodes))
    return replace(trace, script=str(script), backwards=(call,))


def test_the_script_beside_the_trace_is_read_for_the_page(build: type[Builders], tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")

    sources = read_sources(_trace(build, tmp_path / "train.py"))

    assert sources == {"train.py": TRAIN}


def test_a_file_that_changed_since_the_trace_is_left_out(build: type[Builders], tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN.replace("y * y * 3", "y * 4"), encoding="utf-8")

    assert read_sources(_trace(build, tmp_path / "train.py")) == {}


def test_a_missing_file_is_left_out(build: type[Builders], tmp_path: Path) -> None:
    assert read_sources(_trace(build, tmp_path / "gone" / "train.py")) == {}
