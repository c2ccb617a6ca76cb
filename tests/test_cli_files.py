"""Files are never lost: render leaves its input alone, writes are atomic, bad trace files are one line.

The full-disk cases run on a 64 KiB tmpfs mounted for the test (root only; skipped where mounting is
not permitted, which is the one thing that can stop them).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import gradviz.tui.app
from gradviz.cli import main
from gradviz.model import BackwardCall, Edge, Graph, Location, Node, Root, Step, TensorInfo, Trace, Value
from gradviz.render.json import to_json

Capsys = pytest.CaptureFixture[str]
OLD_TIME = 1_000_000_000  # 2001: any write by gradviz would move the mtime off it

SCRIPT = """\
import torch
x = torch.tensor([1.0, 2.0], requires_grad=True)
(x * x).sum().backward()
print(x.grad.tolist())
"""


def small_trace() -> Trace:
    """x -> MulBackward0 (x * x) -> SumBackward0, one backward call, built without torch."""
    grad = Value((2,), "float32", (2.0, 4.0), 2.0, 4.0, 3.0, 4.47)
    one = Value((), "float32", 1.0)
    leaf = TensorInfo("x", (2,), "float32", "cpu", is_leaf=True, grad_after=grad)
    graph = Graph(
        nodes=(Node(0, "SumBackward0"), Node(1, "MulBackward0"), Node(2, "AccumulateGrad", tensor=leaf)),
        edges=(Edge(0, 1), Edge(1, 2, (0, 1))),
        roots=(Root(0, "y", one),),
    )
    steps = (Step(0, (one,), (grad,)), Step(1, (grad,), (grad, grad)), Step(2, (grad,), ()))
    call = BackwardCall(1, "backward", Location("square.py", 3), graph, steps)
    return Trace("2.13.0", "square.py", 1, backwards=(call,))


def saved_trace(folder: Path, name: str = "trace.json") -> Path:
    path = folder / name
    path.write_text(to_json(small_trace()))
    os.utime(path, ns=(OLD_TIME * 10**9, OLD_TIME * 10**9))
    return path


def one_line_error(capsys: Capsys) -> str:
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gradviz: ")
    return lines[0]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs with every block taken by a filler file: no file can grow on it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path) -> None:
    handle = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(handle, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(handle)


def leftovers(folder: Path) -> list[str]:
    """Temp files or empty files left behind."""
    return sorted(path.name for path in folder.iterdir() if path.suffix == ".tmp" or path.stat().st_size == 0)


# --- render never writes to its input --------------------------------------------------------------


@pytest.mark.parametrize("out", [None, "same"])
def test_render_writes_beside_its_input_and_never_touches_it(
    tmp_path: Path, capsys: Capsys, out: str | None
) -> None:
    # Given a saved trace.json with an old mtime
    source = saved_trace(tmp_path)
    before = source.read_bytes()
    extra = ["--out", str(tmp_path)] if out == "same" else []

    # When it is rendered into its own folder (by default, or named with --out)
    status = main(["render", str(source), "--format", "dot,json", *extra])

    # Then the drawings are beside it, and the trace is byte for byte and mtime for mtime unchanged
    assert status == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(tmp_path / "backward-001.dot"), str(tmp_path / "backward-001.json")]
    assert source.read_bytes() == before
    assert source.stat().st_mtime_ns == OLD_TIME * 10**9
    assert "MulBackward0" in (tmp_path / "backward-001.dot").read_text()


def test_render_refuses_to_overwrite_an_input_named_like_an_output(tmp_path: Path, capsys: Capsys) -> None:
    # Given a trace saved under the name render would give a call's JSON
    source = saved_trace(tmp_path, "backward-001.json")
    before = source.read_bytes()

    status = main(["render", str(source), "--format", "json"])

    assert status == 1
    line = one_line_error(capsys)
    assert line == (
        f"gradviz: will not overwrite the input {source} with backward-001.json: choose another --out"
    )
    assert source.read_bytes() == before and source.stat().st_mtime_ns == OLD_TIME * 10**9


# --- a full disk leaves the old file or none ----------------------------------------------------------


def test_render_on_a_full_disk_keeps_the_old_drawing(tmp_path: Path, full_disk: Path, capsys: Capsys) -> None:
    # Given an earlier drawing on a disk that is then filled up
    source = saved_trace(tmp_path)
    old = full_disk / "backward-001.svg"
    old.write_text("<svg>earlier drawing</svg>")
    fill(full_disk)

    # When the trace is rendered there again
    status = main(["render", str(source), "--out", str(full_disk)])

    # Then gradviz says so in one line, fails, and the earlier drawing is whole
    assert status == 1
    assert one_line_error(capsys) == f"gradviz: cannot write {old}: No space left on device"
    assert old.read_text() == "<svg>earlier drawing</svg>"
    assert leftovers(full_disk) == []


def test_trace_on_a_full_disk_keeps_the_scripts_output_and_the_old_trace(
    tmp_path: Path, full_disk: Path, capsys: Capsys
) -> None:
    # Given a trace.json from an earlier run, on a disk that is then filled up
    script = tmp_path / "square.py"
    script.write_text(textwrap.dedent(SCRIPT))
    old = full_disk / "trace.json"
    old.write_text('{"earlier": "run"}')
    fill(full_disk)

    # When the script is traced with its outputs going there
    status = main(["trace", "--quiet", "--out", str(full_disk), str(script)])

    # Then the script's stdout and status are a plain run's, gradviz says in one line that writing
    # failed, and the earlier trace.json is whole (no truncated or empty file, no temp file)
    assert status == 0
    out, err = capsys.readouterr()
    assert out == "[2.0, 4.0]\n"
    assert err == f"gradviz: cannot write {old}: No space left on device\n"
    assert old.read_text() == '{"earlier": "run"}'
    assert leftovers(full_disk) == []
    assert sorted(path.name for path in full_disk.iterdir()) == ["filler", "trace.json"]


# --- trace files that cannot be read --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
        (
            to_json(small_trace()).replace('"values":1.0', '"values":' + "[" * 300 + "1" + "]" * 300, 1),
            "values nested deeper than 64 levels",
        ),
    ],
    ids=["lists", "objects", "values"],
)
def test_deeply_nested_json_is_one_line_in_render_and_tui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys, text: str, reason: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(text)
    opened: list[Trace] = []
    monkeypatch.setattr(gradviz.tui.app, "run_tui", lambda trace, call=1: opened.append(trace) or 0)

    for command in ("render", "tui"):
        assert main([command, str(path)]) == 1
        line = one_line_error(capsys)
        assert line.startswith(f"gradviz: cannot read {path}: ") and reason in line
    assert opened == []


@pytest.mark.parametrize(
    ("call", "expected"),
    [("2", "--call 2: the trace has 1 backward call; captured: 1"), ("0", "--call 0: ")],
)
def test_tui_call_out_of_range_is_one_line_and_status_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys, call: str, expected: str
) -> None:
    source = saved_trace(tmp_path)
    opened: list[int] = []
    monkeypatch.setattr(gradviz.tui.app, "run_tui", lambda trace, call=1: opened.append(call) or 0)

    assert main(["tui", str(source), "--call", call]) == 2
    assert expected in one_line_error(capsys)
    assert main(["tui", str(source), "--call", "1"]) == 0
    assert opened == [1]
