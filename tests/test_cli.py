"""The ``gradviz`` command line, run in-process with ``main([...])`` and, where it matters, for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gradviz.cli
from gradviz.cli import main
from gradviz.model import (
    BackwardCall,
    Edge,
    Finding,
    Graph,
    LeafSummary,
    Location,
    Node,
    Root,
    Step,
    TensorInfo,
    Trace,
    Value,
)
from gradviz.render.json import to_json
from gradviz.render.summary import summarize

PYTHON = sys.executable
Capsys = pytest.CaptureFixture[str]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def one_line_error(capsys: Capsys) -> str:
    """The error gradviz printed, checked to be one clean line with nothing on stdout."""
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gradviz: ")
    return lines[0]


def hand_built_trace() -> Trace:
    """x -> MulBackward0 (x * x) -> SumBackward0, with one backward call, built without torch."""
    grad = Value(shape=(2,), dtype="float32", values=(2.0, 4.0), min=2.0, max=4.0, mean=3.0, norm=4.47)
    leaf = TensorInfo(label="x", shape=(2,), dtype="float32", device="cpu", is_leaf=True, grad_after=grad)
    where = Location(file="square.py", line=4, function="<module>", code="y.backward()")
    graph = Graph(
        nodes=(
            Node(0, "SumBackward0", tensor=TensorInfo("y", (), "float32", "cpu")),
            Node(1, "MulBackward0", tensor=TensorInfo(None, (2,), "float32", "cpu")),
            Node(2, "AccumulateGrad", tensor=leaf),
        ),
        edges=(Edge(0, 1), Edge(1, 2, slots=(0, 1))),
        roots=(Root(node=0, label="y", gradient=Value(shape=(), dtype="float32", values=1.0)),),
    )
    one = Value(shape=(), dtype="float32", values=1.0)
    ones = Value(shape=(2,), dtype="float32", values=(1.0, 1.0))
    steps = (Step(0, (one,), (ones,)), Step(1, (ones,), (grad, grad)), Step(2, (grad,), ()))
    call = BackwardCall(index=1, api="backward", location=where, graph=graph, steps=steps)
    return Trace(torch_version="2.13.0", script="square.py", backward_calls=1, backwards=(call,))


SQUARE = """\
import torch
x = torch.tensor([1.0, 2.0], requires_grad=True)
y = (x * x).sum()
y.backward()
print(x.grad.tolist())
"""


# --- bad input: one line, a non-zero status, never a traceback ---------------------------------


def test_missing_script(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["trace", "--out", str(tmp_path), str(tmp_path / "gone.py")]) == 2
    assert "no such file" in one_line_error(capsys)


def test_directory_instead_of_script(tmp_path: Path, capsys: Capsys) -> None:
    assert main(["trace", "--out", str(tmp_path / "out"), str(tmp_path)]) == 2
    assert "is a directory" in one_line_error(capsys)


def test_binary_file_instead_of_script(tmp_path: Path, capsys: Capsys) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"PK\x03\x04\x00\x00\x08\x00\xff\xfe")
    assert main(["trace", "--out", str(tmp_path / "out"), str(weights)]) == 2
    assert "weights.pt is not a Python script" in one_line_error(capsys)


def test_syntax_error_gives_the_line(tmp_path: Path, capsys: Capsys) -> None:
    script = write(tmp_path, "broken.py", "import torch\nx = torch.ones(2\ny = 3\n")
    assert main(["trace", "--out", str(tmp_path / "out"), str(script)]) == 2
    assert one_line_error(capsys).startswith("gradviz: SyntaxError in broken.py line 2")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["trace", "--bogus", "x.py"],
            "gradviz: unrecognized arguments: --bogus (try 'gradviz trace --help')",
        ),
        (["paint"], "invalid choice: 'paint'"),
        ([], "no command given"),
        (["trace"], "(try 'gradviz trace --help')"),
        (["trace", "--format", "gif", "x.py"], "unknown format gif"),
        (["trace", "--max-backward", "lots", "x.py"], "expected a number or 'all'"),
        (["render", "t.json", "--step", "two"], "(try 'gradviz render --help')"),
    ],
)
def test_bad_command_lines_give_one_line_and_status_2(argv: list[str], expected: str, capsys: Capsys) -> None:
    assert main(argv) == 2
    assert expected in one_line_error(capsys)


def test_unwritable_out_is_refused_before_the_script_runs(tmp_path: Path, capsys: Capsys) -> None:
    marker = tmp_path / "ran"
    script = write(tmp_path, "touch.py", f"open({str(marker)!r}, 'w').close()\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    assert main(["trace", "--out", str(blocker / "out"), str(script)]) == 2

    assert "cannot write to" in one_line_error(capsys)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ("{not json", ""), ('{"schema": "someone.else/9"}', "")],
)
def test_unreadable_trace_files(tmp_path: Path, capsys: Capsys, content: str | None, expected: str) -> None:
    path = tmp_path / "trace.json"
    if content is not None:
        path.write_text(content)
    for command in ("render", "tui"):
        assert main([command, str(path)]) != 0
        assert expected in one_line_error(capsys)


# --- help and version ------------------------------------------------------------------------


def test_version_comes_from_the_package_metadata(capsys: Capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "gradviz 0.1.0 (torch-gradviz)\n"


@pytest.mark.parametrize("command", [[], ["trace"], ["render"], ["tui"], ["demo"]])
def test_help_everywhere(command: list[str], capsys: Capsys) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {' '.join(['gradviz', *command])}")


# --- running a script: it sees what plain python would give it --------------------------------


def test_script_sees_its_own_argv_path_and_file(tmp_path: Path, capsys: Capsys) -> None:
    script = write(
        tmp_path,
        "show.py",
        """\
        import json, sys
        print(json.dumps([sys.argv, sys.path[0], __file__, __name__]))
        """,
    )
    argv = ["trace", "--out", str(tmp_path / "out"), str(script), "--out", "theirs", "-m", "--format=x"]

    assert main(argv) == 0

    seen = json.loads(capsys.readouterr().out)
    assert seen == [
        [str(script), "--out", "theirs", "-m", "--format=x"],
        str(tmp_path),
        str(script),
        "__main__",
    ]


def test_exit_status_is_the_scripts(tmp_path: Path, capsys: Capsys) -> None:
    script = write(tmp_path, "three.py", SQUARE + "import sys\nsys.exit(3)\n")
    out_dir = tmp_path / "out"

    assert main(["trace", "--out", str(out_dir), str(script)]) == 3

    assert capsys.readouterr().out == "[2.0, 4.0]\n"
    assert (out_dir / "trace.json").exists()


def test_uncaught_exception_shows_the_users_traceback_and_keeps_the_trace(
    tmp_path: Path, capsys: Capsys
) -> None:
    script = write(
        tmp_path, "fail.py", SQUARE + "def later():\n    raise ValueError('after backward')\nlater()\n"
    )
    out_dir = tmp_path / "out"

    assert main(["trace", "--out", str(out_dir), str(script)]) == 1

    err = capsys.readouterr().err
    traceback = err[err.index("Traceback") :]
    assert f'File "{script}", line 8, in <module>' in traceback
    assert "ValueError: after backward" in traceback
    assert "gradviz/" not in traceback.split("ValueError: after backward")[0]
    saved = json.loads((out_dir / "trace.json").read_text())
    assert saved["backward_calls"] == 1


def test_autograd_error_is_explained(tmp_path: Path, capsys: Capsys) -> None:
    script = write(
        tmp_path,
        "inplace.py",
        """\
        import torch
        a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        s = a.sigmoid()
        s.mul_(2)
        s.sum().backward()
        """,
    )

    assert main(["trace", "--out", str(tmp_path / "out"), str(script)]) == 1

    err = capsys.readouterr().err
    assert "RuntimeError: one of the variables needed for gradient computation" in err
    assert "autograd error" in err.split("RuntimeError:")[-1]


def test_summary_names_the_call_line_and_leaf_gradient(tmp_path: Path, capsys: Capsys) -> None:
    script = write(tmp_path, "square.py", SQUARE)
    out_dir = tmp_path / "out"

    assert main(["trace", "--out", str(out_dir), str(script)]) == 0

    out, err = capsys.readouterr()
    assert out == "[2.0, 4.0]\n"
    assert "#1 backward at square.py:4" in err
    assert "x.grad = [2, 4]" in err
    assert "trace.json" in err and "backward-001.svg" in err


def test_quiet_prints_no_summary(tmp_path: Path, capsys: Capsys) -> None:
    script = write(tmp_path, "square.py", SQUARE)

    assert main(["trace", "--quiet", "--out", str(tmp_path / "out"), str(script)]) == 0

    assert "#1 backward" not in capsys.readouterr().err


def test_max_backward_captures_some_and_counts_all(tmp_path: Path, capsys: Capsys) -> None:
    script = write(
        tmp_path,
        "five.py",
        """\
        import torch
        w = torch.tensor([1.0, -1.0], requires_grad=True)
        for _ in range(5):
            (w * 3).sum().backward()
        print(w.grad.tolist())
        """,
    )
    out_dir = tmp_path / "out"

    assert main(["trace", "--max-backward", "1", "--out", str(out_dir), str(script)]) == 0

    assert capsys.readouterr().out == "[15.0, 15.0]\n"
    saved = json.loads((out_dir / "trace.json").read_text())
    assert saved["backward_calls"] == 5
    assert [call["index"] for call in saved["backwards"]] == [1]
    assert (out_dir / "backward-001.svg").exists()
    assert not (out_dir / "backward-002.svg").exists()


def test_no_timeline_still_captures_backward_but_records_no_forward_ops(
    tmp_path: Path, capsys: Capsys
) -> None:
    script = write(
        tmp_path,
        "cut.py",
        """\
        import torch
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        with torch.no_grad():
            frozen = w * 2
        (w * w).sum().backward()
        print(w.grad.tolist())
        """,
    )
    out_dir = tmp_path / "out"

    assert main(["trace", "--no-timeline", "--out", str(out_dir), str(script)]) == 0

    out, err = capsys.readouterr()
    assert out == "[2.0, 4.0]\n"
    saved = json.loads((out_dir / "trace.json").read_text())
    assert saved["events"] == [] and len(saved["backwards"]) == 1
    leaf = saved["backwards"][0]["nodes"][-1]
    assert leaf["tensor"]["label"] == "w" and leaf["tensor"]["grad_after"]["values"] == [2.0, 4.0]
    assert "no_grad" not in err  # the forward timeline is what sees no_grad regions


def test_formats_on_request(tmp_path: Path, capsys: Capsys) -> None:
    script = write(tmp_path, "square.py", SQUARE)
    out_dir = tmp_path / "out"

    assert main(["trace", "--format", "dot,json,html", "--out", str(out_dir), str(script)]) == 0

    names = {path.name for path in out_dir.iterdir()}
    assert {"trace.json", "backward-001.dot", "backward-001.html"} <= names
    assert "backward-001.svg" not in names
    assert (out_dir / "backward-001.dot").read_text().lstrip().startswith("digraph")


def test_default_out_is_under_gradviz_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    write(tmp_path, "square.py", SQUARE)
    monkeypatch.chdir(tmp_path)

    assert main(["trace", "square.py"]) == 0

    assert (tmp_path / "gradviz-out" / "square" / "trace.json").exists()


def test_failed_output_writing_keeps_the_scripts_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    import gradviz.output

    def broken(*args: object, **kwargs: object) -> list[Path]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gradviz.output, "write_outputs", broken)
    script = write(tmp_path, "three.py", SQUARE + "raise SystemExit(3)\n")

    assert main(["trace", "--out", str(tmp_path / "out"), str(script)]) == 3

    out, err = capsys.readouterr()
    assert out == "[2.0, 4.0]\n"
    assert [line for line in err.splitlines() if "disk on fire" in line] == [
        f"gradviz: could not write the outputs to {tmp_path / 'out'}: RuntimeError: disk on fire"
    ]


def test_run_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    write(tmp_path, "square_mod.py", SQUARE)
    monkeypatch.chdir(tmp_path)

    assert main(["trace", "--out", "out", "-m", "square_mod", "--lr", "1"]) == 0

    assert capsys.readouterr().out == "[2.0, 4.0]\n"
    assert json.loads((tmp_path / "out" / "trace.json").read_text())["backward_calls"] == 1


def test_stdout_is_byte_for_byte_what_python_prints(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "noisy.py",
        """\
        import sys, torch
        x = torch.ones(3, requires_grad=True)
        print("grad ->", end="")
        (x.exp() * 2).sum().backward()
        print(x.grad)
        sys.stdout.write("no newline, ünïcödé ✓")
        sys.stdout.flush()
        sys.stdout.buffer.write(b"\\x00raw\\r\\n")
        print(sys.argv[1:], file=sys.stderr)
        """,
    )
    plain = subprocess.run([PYTHON, str(script), "a b"], capture_output=True, cwd=tmp_path, check=False)
    traced = subprocess.run(
        [PYTHON, "-m", "gradviz", "trace", "--out", str(tmp_path / "out"), str(script), "a b"],
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )

    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout
    assert b"['a b']" in traced.stderr


# --- render, tui and demo ----------------------------------------------------------------------


def test_render_and_tui_never_import_torch(tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(to_json(hand_built_trace()))
    program = textwrap.dedent(
        f"""\
        import sys
        import gradviz.tui.app
        from gradviz.cli import main
        calls = []
        gradviz.tui.app.run_tui = lambda trace, call=1: calls.append((trace.script, call)) or 0
        out = {str(tmp_path / "r")!r}
        assert main(["render", {str(trace_file)!r}, "--format", "dot,svg", "--out", out]) == 0
        assert main(["tui", {str(trace_file)!r}, "--call", "1"]) == 0
        print(calls, "torch" in sys.modules)
        """
    )
    result = subprocess.run([PYTHON, "-c", program], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("[('square.py', 1)] False")
    assert (tmp_path / "r" / "backward-001.svg").read_text().find("<svg") >= 0


def test_render_a_step(tmp_path: Path, capsys: Capsys) -> None:
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(to_json(hand_built_trace()))

    assert main(["render", str(trace_file), "--step", "1", "--format", "dot", "--out", str(tmp_path)]) == 0

    written = tmp_path / "backward-001-step-1.dot"
    assert capsys.readouterr().out == f"{written}\n"
    assert written.read_text() != (tmp_path / "trace.json").read_text()
    assert "digraph" in written.read_text()


def test_demo_writes_svgs_and_prints_their_paths(tmp_path: Path, capsys: Capsys) -> None:
    out_dir = tmp_path / "demo"

    assert main(["demo", "--out", str(out_dir)]) == 0

    out, err = capsys.readouterr()
    printed = [Path(line) for line in out.splitlines() if line.startswith(str(out_dir))]
    assert out_dir / "backward-001.svg" in printed
    assert out_dir / "backward-002.svg" in printed
    assert out_dir / "trace.json" in printed
    assert all(path.exists() for path in printed)
    assert "x.grad after the first backward: [[3.0, 3.0], [3.0, 3.0]]" in out
    saved = json.loads((out_dir / "trace.json").read_text())
    assert saved["backward_calls"] == 2
    assert "demo.py:" in err


# --- the summary itself (pure) ---------------------------------------------------------------


def test_summary_of_a_hand_built_trace() -> None:
    trace = hand_built_trace()

    text = summarize(trace, [Path("out/trace.json"), Path("out/backward-001.svg")], Path("out"))

    assert text.splitlines() == [
        "gradviz: square.py made 1 backward/grad call, all captured",
        "  #1 backward at square.py:4  y.backward()  (3 nodes, v = 1 = dL/dL)",
        "      x.grad = [2, 4]",
        f"gradviz: wrote out{os.sep}: trace.json, backward-001.svg",
    ]


def test_summary_counts_uncaptured_calls_and_lists_findings() -> None:
    trace = hand_built_trace()
    grad = Value(shape=(2,), dtype="float32", values=(10.0, 20.0), norm=22.4)
    trace = Trace(
        torch_version="2.13.0",
        script="loop.py",
        backward_calls=5,
        backwards=trace.backwards,
        uncaptured=(LeafSummary(label="x", calls=4, grad_after=grad),),
        findings=(
            Finding(
                kind="data_edit",
                message="w was changed through .data after MulBackward0 saved it.",
                location=Location("loop.py", 7),
            ),
        ),
    )

    lines = summarize(trace, [], None).splitlines()

    assert lines[0] == "gradviz: loop.py made 5 backward/grad calls, captured the first 1"
    assert "  #2-#5: counted, not captured (raise --max-backward to record them step by step)" in lines
    assert "      x.grad changed in 4 of them, now [10, 20]" in lines
    assert "  ! .data edit (loop.py:7): w was changed through .data after MulBackward0 saved it." in lines


def test_parse_helpers() -> None:
    assert gradviz.cli.parse_formats("svg, DOT,svg") == ("svg", "dot")
    assert gradviz.cli.parse_max_backward("all") is None
    assert gradviz.cli.parse_max_backward("0") == 0


def test_trace_tui_opens_the_fresh_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    import gradviz.tui.app

    opened: list[Trace] = []
    monkeypatch.setattr(gradviz.tui.app, "run_tui", lambda trace, call=1: opened.append(trace) or 0)
    script = write(tmp_path, "square.py", SQUARE + "raise SystemExit(4)\n")

    assert main(["trace", "--tui", "--out", str(tmp_path / "out"), str(script)]) == 4

    assert [trace.backward_calls for trace in opened] == [1]
    assert opened[0].backwards[0].graph.leaves[0].tensor is not None


def test_missing_module_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["trace", "--out", "out", "-m", "no_such_module_anywhere"]) == 2
    assert "no module named no_such_module_anywhere" in one_line_error(capsys)


def test_summary_names_grad_results_by_input() -> None:
    base = hand_built_trace().backwards[0]
    result = Value(shape=(2,), dtype="float32", values=(2.0, 4.0))
    call = BackwardCall(
        index=1, api="grad", location=base.location, graph=base.graph, inputs=(2,), results=(result,)
    )
    trace = Trace(torch_version="2.13.0", script="g.py", backward_calls=1, backwards=(call,))

    lines = summarize(trace, [], None).splitlines()

    assert "      grad[0] (d/dx) = [2, 4]" in lines
    assert not any(".grad =" in line for line in lines)


def test_a_tracer_that_cannot_start_still_runs_the_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    import gradviz.capture.session

    class BrokenTracer:
        def __init__(self, **kwargs: object) -> None:
            raise RuntimeError("hooks unavailable")

    monkeypatch.setattr(gradviz.capture.session, "Tracer", BrokenTracer)
    script = write(tmp_path, "square.py", SQUARE + "raise SystemExit(5)\n")

    assert main(["trace", "--out", str(tmp_path / "out"), str(script)]) == 5

    out, err = capsys.readouterr()
    assert out == "[2.0, 4.0]\n"
    assert err == "gradviz: could not start tracing, running untraced: RuntimeError: hooks unavailable\n"


def test_tui_on_a_saved_demo_trace_finds_the_demo_script_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    import gradviz.tui.app

    # Given: the demo's trace, opened later from another folder
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    roots: list[str | None] = []
    monkeypatch.setattr(
        gradviz.tui.app,
        "run_tui",
        lambda trace, call=1, source_root=None: roots.append(source_root) or 0,
    )

    # When: it is opened in the TUI
    assert main(["tui", str(tmp_path / "demo" / "trace.json")]) == 0

    # Then: the source pane is told to look beside the trace, where demo.py is
    assert roots == [str(tmp_path / "demo")]
    assert (Path(roots[0]) / "demo.py").is_file()


def test_render_a_step_the_call_does_not_have_is_bad_usage(tmp_path: Path, capsys: Capsys) -> None:
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(to_json(hand_built_trace()))

    status = main(["render", str(trace_file), "--step", "99", "--format", "dot", "--out", str(tmp_path)])

    # A bad option value exits 2, as docs/cli.md says, in one line naming the steps there are.
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("gradviz: step 99 is out of range") and err.count("\n") == 1
    assert not (tmp_path / "backward-001-step-99.dot").exists()
