"""write_outputs: trace.json plus backward-NNN.<fmt>, and DOT when no layout engine runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import Trace
from gradviz.output import LayoutSkipped, OutputIncomplete, write_file, write_outputs
from gradviz.render import svg
from gradviz.render.json import call_from_json, from_json, to_json

PURE = Path(sys.executable).parent / "graphviz-pure"
needs_pure = pytest.mark.skipif(not PURE.exists(), reason="graphviz-pure is installed with gradviz")


@pytest.fixture
def pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRADVIZ_DOT", raising=False)
    monkeypatch.setattr(svg.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@needs_pure
def test_writes_trace_json_and_each_format_per_call(trace: Trace, tmp_path: Path, pure: None) -> None:
    second = replace(trace.backwards[0], index=12)
    trace = replace(trace, backward_calls=12, backwards=(trace.backwards[0], second))
    out = tmp_path / "a" / "b"

    written = write_outputs(trace, out, ["svg", "dot", "json", "html", "png"])

    names = [path.name for path in written]
    assert names[0] == "trace.json"
    for index in ("001", "012"):
        assert {f"backward-{index}.{fmt}" for fmt in ("svg", "dot", "json", "html", "png")} <= set(names)
    assert from_json((out / "trace.json").read_text()) == trace
    assert call_from_json((out / "backward-012.json").read_text()) == second
    assert "PowBackward0" in (out / "backward-001.svg").read_text()
    assert (out / "backward-001.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "backward-001.dot").read_text().startswith("digraph")
    page = (out / "backward-001.html").read_text()
    assert page.count("<svg") == 1  # one drawing, restyled per step by the page's script
    assert '"elements":["n0","n1","n2","n3","n4"]' in page and "<title>n2&#45;&gt;n3</title>" in page


@needs_pure
def test_overlays_option_reaches_the_drawings(trace: Trace, tmp_path: Path, pure: None) -> None:
    from gradviz.render.style import RenderOptions

    write_outputs(trace, tmp_path / "on", ["dot"])
    write_outputs(trace, tmp_path / "off", ["dot"], options=RenderOptions(overlays=False))

    assert "torch.no_grad()" in (tmp_path / "on" / "backward-001.dot").read_text()
    assert (
        "made under torch.no_grad(): not recorded" not in (tmp_path / "off" / "backward-001.dot").read_text()
    )


def test_without_an_engine_dot_and_trace_json_are_still_written(
    trace: Trace, tmp_path: Path, no_engine: None
) -> None:
    with pytest.raises(LayoutSkipped) as info:
        write_outputs(trace, tmp_path, ["svg", "html"])

    error = info.value
    assert isinstance(error, LayoutEngineMissing)
    assert str(error).startswith("no layout engine: wrote DOT instead; pip install graphviz-pure")
    assert "\n" not in str(error)
    assert sorted(path.name for path in error.written) == [
        "backward-001.dot",
        "backward-001.html",
        "trace.json",
    ]
    assert (tmp_path / "backward-001.dot").read_text().startswith("digraph")
    assert not (tmp_path / "backward-001.svg").exists()
    assert "No drawing" in (tmp_path / "backward-001.html").read_text()
    assert json.loads((tmp_path / "trace.json").read_text())["schema"] == "gradviz.trace/1"


def test_dot_and_json_need_no_engine(trace: Trace, tmp_path: Path, no_engine: None) -> None:
    written = write_outputs(trace, tmp_path, ["dot", "json"])

    assert [path.name for path in written] == ["trace.json", "backward-001.dot", "backward-001.json"]


@needs_pure
def test_a_format_the_engine_lacks_falls_back_to_dot(trace: Trace, tmp_path: Path, pure: None) -> None:
    with pytest.raises(OutputIncomplete) as info:
        write_outputs(trace, tmp_path, ["svg", "pdf"])

    assert "graphviz-pure cannot make pdf" in str(info.value) and "wrote DOT instead" in str(info.value)
    assert {path.name for path in info.value.written} == {
        "trace.json",
        "backward-001.svg",
        "backward-001.dot",
    }


def test_an_unwritable_folder_is_one_line(trace: Trace, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    with pytest.raises(GradvizError, match=r"^cannot create output folder .*file/out") as info:
        write_outputs(trace, blocker / "out", ["dot"])
    assert "\n" not in str(info.value)


def test_a_file_that_cannot_be_written_is_one_line(trace: Trace, tmp_path: Path) -> None:
    (tmp_path / "trace.json").mkdir()  # a folder in the way fails for root too, unlike permissions

    with pytest.raises(GradvizError, match=r"^cannot write .*trace\.json: ") as info:
        write_outputs(trace, tmp_path, ["dot"])
    assert "\n" not in str(info.value)


def test_unknown_format_is_refused_before_writing(trace: Trace, tmp_path: Path) -> None:
    with pytest.raises(GradvizError, match="unknown format gif"):
        write_outputs(trace, tmp_path / "out", ["svg", "gif"])

    assert not (tmp_path / "out").exists()


def test_trace_json_is_written_in_pieces_as_the_same_bytes(trace: Trace, tmp_path: Path) -> None:
    # When trace.json is written from pieces of text (a big trace never held as one string)
    write_outputs(trace, tmp_path, ["dot"])

    # Then the file is byte for byte what to_json gives
    assert (tmp_path / "trace.json").read_text(encoding="utf-8") == to_json(trace)


def test_pieces_that_fail_half_way_leave_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    # Given a file already written
    path = tmp_path / "trace.json"
    write_file(path, "old\n")

    def pieces() -> Iterator[str]:
        yield "{\n"
        raise RuntimeError("encoding failed")

    # When new pieces raise half way through
    with pytest.raises(RuntimeError, match="encoding failed"):
        write_file(path, pieces())

    # Then the old file is untouched and nothing else is left in the folder
    assert path.read_text() == "old\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["trace.json"]
