"""The layout engine: lookup order, failures in one line, and deterministic SVG from graphviz-pure."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import BackwardCall
from gradviz.render import svg
from gradviz.render.svg import find_engine, run_layout, to_svg

PURE = Path(sys.executable).parent / "graphviz-pure"
needs_pure = pytest.mark.skipif(not PURE.exists(), reason="graphviz-pure is installed with gradviz")


def fake_engine(folder: Path, name: str, body: str) -> Path:
    """A tiny dot-compatible program: a shell script that answers with `body`."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $GRADVIZ_DOT, nothing beside the interpreter, an empty PATH."""
    monkeypatch.delenv("GRADVIZ_DOT", raising=False)
    monkeypatch.setattr(svg.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_gradviz_dot_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = fake_engine(tmp_path, "mydot", 'cat > /dev/null; echo "<svg>fake $1</svg>"')
    monkeypatch.setenv("GRADVIZ_DOT", str(engine))

    assert find_engine() == str(engine)
    assert run_layout("digraph { a }", "svg") == b"<svg>fake -Tsvg</svg>\n"


@needs_pure
def test_graphviz_pure_beside_python_comes_before_path(
    no_engines: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_engine(no_engines, "dot", "exit 1")
    fake_engine(no_engines, "graphviz-pure", "exit 1")
    monkeypatch.setattr(svg.sys, "executable", str(PURE.parent / "python"))

    assert find_engine() == str(PURE)


def test_dot_on_path_is_the_last_resort(no_engines: Path) -> None:
    dot = fake_engine(no_engines, "dot", "cat")

    assert find_engine() == str(dot)


def test_graphviz_pure_on_path_beats_dot(no_engines: Path) -> None:
    fake_engine(no_engines, "dot", "cat")
    pure = fake_engine(no_engines, "graphviz-pure", "cat")

    assert find_engine() == str(pure)


def test_no_engine_says_how_to_get_one(no_engines: Path) -> None:
    assert find_engine() is None
    with pytest.raises(LayoutEngineMissing) as info:
        run_layout("digraph { a }", "svg")

    message = str(info.value)
    assert "pip install graphviz-pure" in message and "GRADVIZ_DOT" in message and "dot on PATH" in message
    assert "\n" not in message


def test_a_gradviz_dot_that_does_not_exist_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(tmp_path / "nowhere" / "dot"))

    with pytest.raises(LayoutEngineMissing, match="nowhere/dot"):
        run_layout("digraph { a }", "svg")


def test_engine_failure_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    engine = fake_engine(
        tmp_path, "baddot", "echo 'Warning: noise' >&2; echo 'Error: syntax error in line 1' >&2; exit 1"
    )
    monkeypatch.setenv("GRADVIZ_DOT", str(engine))

    with pytest.raises(
        GradvizError, match=r"^layout engine baddot cannot make svg: Error: syntax error in line 1$"
    ):
        run_layout("digraph {", "svg")


def test_a_hanging_engine_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(fake_engine(tmp_path, "slowdot", "exec sleep 5")))

    with pytest.raises(GradvizError, match=r"took more than 0\.2s"):
        run_layout("digraph { a }", "svg", timeout=0.2)


def test_unknown_format_is_refused_before_running_anything() -> None:
    with pytest.raises(GradvizError, match="unknown layout format 'gif'"):
        run_layout("digraph { a }", "gif")


@needs_pure
def test_graphviz_pure_has_no_pdf_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    with pytest.raises(GradvizError, match="graphviz-pure cannot make pdf: it has no such output format"):
        run_layout("digraph { a }", "pdf")


@needs_pure
def test_svg_is_byte_identical_across_runs_and_shows_the_labels(
    monkeypatch: pytest.MonkeyPatch, call: BackwardCall
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    first = to_svg(call, step=3)
    second = to_svg(call, step=3)

    assert first == second
    assert first.lstrip().startswith("<?xml") and first.rstrip().endswith("</svg>")
    for label in (
        "MulBackward0",
        "PowBackward0",
        "AccumulateGrad",
        "grad: None",
        "v in: [1.5, 1.5]",
        "after step 3 of 5",
    ):
        assert label in first


@needs_pure
def test_graphviz_pure_is_quiet_about_our_fonts(monkeypatch: pytest.MonkeyPatch, call: BackwardCall) -> None:
    import subprocess

    from gradviz.render.dot import to_dot

    done = subprocess.run([str(PURE), "-Tsvg"], input=to_dot(call).encode(), capture_output=True, check=True)

    assert done.stderr.decode() == ""


@needs_pure
def test_png_comes_out_as_png(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    assert run_layout("digraph { a -> b }", "png").startswith(b"\x89PNG")


def test_engine_gets_the_dot_source_on_stdin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(fake_engine(tmp_path, "echodot", "cat")))

    assert run_layout("digraph { a -> b }", "plain") == b"digraph { a -> b }"
