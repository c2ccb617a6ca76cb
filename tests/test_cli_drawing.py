"""Drawing options on the command line: --depth, --full, --no-legend, --rankdir, --dpi, --theme, the
collapsed-view note, long writes, progress."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from gradviz.cli import main
from gradviz.cli.progress import DrawingProgress
from gradviz.model import BackwardCall, Edge, Graph, Node, Root, Trace
from gradviz.render.json import to_json

Capsys = pytest.CaptureFixture[str]


def chain_trace(length: int, calls: int = 1) -> Trace:
    """`calls` captured backward calls, each over a chain of `length` AddBackward0 nodes and a leaf."""
    nodes = (*(Node(i, "AddBackward0") for i in range(length)), Node(length, "AccumulateGrad"))
    graph = Graph(nodes, tuple(Edge(i, i + 1) for i in range(length)), (Root(0, "out"),))
    backwards = tuple(BackwardCall(n, "backward", None, graph) for n in range(1, calls + 1))
    return Trace("2.13.0", "train.py", backward_calls=calls, backwards=backwards)


def saved(tmp_path: Path, trace: Trace) -> str:
    path = tmp_path / "trace.json"
    path.write_text(to_json(trace), encoding="utf-8")
    return str(path)


def test_a_big_call_is_drawn_collapsed_and_says_which_flag_draws_all(tmp_path: Path, capsys: Capsys) -> None:
    trace = saved(tmp_path, chain_trace(2000))

    assert main(["render", trace, "--format", "dot"]) == 0

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "call #1 with up to 2,001 nodes drawn collapsed" in err and "--full" in err
    dot = (tmp_path / "backward-001.dot").read_text()
    assert "2001 nodes in 2 boxes" in dot and dot.count("AddBackward0") == 2  # the fold's title and list


def test_full_draws_every_node_and_depth_collapses_a_small_one(tmp_path: Path, capsys: Capsys) -> None:
    trace = saved(tmp_path, chain_trace(2000))

    assert main(["render", trace, "--format", "dot", "--full", "--out", str(tmp_path / "full")]) == 0
    assert main(["render", saved(tmp_path, chain_trace(5)), "--format", "dot", "--depth", "0"]) == 0

    assert capsys.readouterr().err == ""
    assert (tmp_path / "full" / "backward-001.dot").read_text().count("AddBackward0") == 2000
    assert "6 nodes in 2 boxes" in (tmp_path / "backward-001.dot").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depth", "x"], "expected a module depth (0, 1, 2, ...), got 'x'"),
        (["--depth", "1", "--full"], "not allowed with argument --depth"),
        (["--rankdir", "BT"], "argument --rankdir: expected TB or LR, got 'BT'"),
        (["--dpi", "0"], "argument --dpi: expected dots per inch from 1 to 1200, got '0'"),
        (["--dpi", "high"], "argument --dpi: expected dots per inch from 1 to 1200, got 'high'"),
        (["--theme", "dark"], "argument --theme: invalid choice: 'dark'"),
    ],
)
def test_bad_drawing_options_are_one_line(
    tmp_path: Path, capsys: Capsys, args: list[str], message: str
) -> None:
    assert main(["render", saved(tmp_path, chain_trace(2)), *args]) == 2
    assert main(["trace", "--out", str(tmp_path / "out"), *args, str(tmp_path / "train.py")]) == 2

    err = capsys.readouterr().err
    assert err.count(message) == 2 and err.count("\n") == 2


def test_slide_options_reach_the_drawings(tmp_path: Path, capsys: Capsys) -> None:
    trace = saved(tmp_path, chain_trace(3))

    assert main(["render", trace, "--format", "dot", "--out", str(tmp_path / "plain")]) == 0
    assert main(["render", trace, "--format", "dot", "--no-legend", "--rankdir", "lr"]) == 0
    assert (
        main(["render", trace, "--format", "dot", "--theme", "projector", "--out", str(tmp_path / "room")])
        == 0
    )

    plain = (tmp_path / "plain" / "backward-001.dot").read_text()
    slide = (tmp_path / "backward-001.dot").read_text()
    assert "legend" in plain and "rankdir=TB" in plain
    assert "legend" not in slide and "rankdir=LR" in slide and slide.count("AddBackward0") == 3
    room = (tmp_path / "room" / "backward-001.dot").read_text()
    assert "fontsize=11 " in plain and "fontsize=17 " in room and "fontsize=11 " not in room


def png_pixels(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, from its IHDR header."""
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_dpi_sets_the_png_resolution(tmp_path: Path, capsys: Capsys) -> None:
    trace = saved(tmp_path, chain_trace(3))

    for dpi in ("72", "200"):
        out = str(tmp_path / dpi)
        assert main(["render", trace, "--format", "png", "--dpi", dpi, "--out", out]) == 0
    step = ["--step", "0", "--out", str(tmp_path)]
    assert main(["render", trace, "--format", "png", "--dpi", "200", *step]) == 0

    low = png_pixels(tmp_path / "72" / "backward-001.png")
    high = png_pixels(tmp_path / "200" / "backward-001.png")
    assert high[0] > 2 * low[0] and high[1] > 2 * low[1]
    assert png_pixels(tmp_path / "backward-001-step-0.png")[0] > 2 * low[0]


def test_writing_more_than_fifty_calls_warns_once_with_the_size(tmp_path: Path, capsys: Capsys) -> None:
    trace = saved(tmp_path, chain_trace(3, calls=51))

    assert main(["render", trace, "--format", "dot,json"]) == 0

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "writing 51 captured calls: about 103 files and under 1 MB plus trace.json" in err
    assert " 0 MB" not in err


def test_fifty_calls_are_written_without_a_word(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["render", saved(tmp_path, chain_trace(3, calls=50)), "--format", "dot"]) == 0

    assert capsys.readouterr().err == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_on_a_terminal_once_drawing_runs_long(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    bar = DrawingProgress(delay=0.0)

    bar(0, 3)
    assert bar.timer is not None
    bar.timer.join()
    bar(2, 3)
    bar.close()

    assert "gradviz: drawing" in terminal.getvalue()


def test_no_progress_bar_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    bar = DrawingProgress(delay=0.0)

    bar(0, 3)
    bar.close()

    assert bar.timer is None and log.getvalue() == ""
