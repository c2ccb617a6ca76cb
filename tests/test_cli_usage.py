"""Every subcommand and option given bad input: one line on stderr, no traceback, the status docs/cli.md says.

2 for bad usage (an unknown command or option, a bad option value, a missing or unrunnable script, an
unwritable --out, a --call the trace did not capture); 1 for a trace file that cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradviz.cli import main
from gradviz.model import BackwardCall, Edge, Graph, Location, Node, Root, Step, TensorInfo, Trace, Value
from gradviz.render.json import to_json

Capsys = pytest.CaptureFixture[str]


def two_call_trace() -> Trace:
    """y = (x * x).sum() run backward twice, built without torch: 2 calls, both captured."""
    one = Value((), "float32", 1.0)
    grad = Value((2,), "float32", (2.0, 4.0), 2.0, 4.0, 3.0, 4.47)
    leaf = TensorInfo("x", (2,), "float32", "cpu", is_leaf=True, grad_after=grad)
    graph = Graph(
        nodes=(Node(0, "SumBackward0"), Node(1, "MulBackward0"), Node(2, "AccumulateGrad", tensor=leaf)),
        edges=(Edge(0, 1), Edge(1, 2, (0, 1))),
        roots=(Root(0, "y", one),),
    )
    steps = (Step(0, (one,), (grad,)), Step(1, (grad,), (grad, grad)), Step(2, (grad,), ()))
    calls = tuple(BackwardCall(i, "backward", Location("square.py", 3), graph, steps) for i in (1, 2))
    return Trace("2.13.0", "square.py", 2, backwards=calls)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """The paths the command lines name: a good trace and script, and each kind of bad input."""
    (tmp_path / "trace.json").write_text(to_json(two_call_trace()))
    (tmp_path / "good.py").write_text("print('ran')\n")
    (tmp_path / "broken.py").write_text("x = (\n")
    (tmp_path / "not-json.json").write_text("not json\n")
    (tmp_path / "other.json").write_text('{"schema": "other/1"}\n')
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder").mkdir()
    return {
        "trace": str(tmp_path / "trace.json"),
        "script": str(tmp_path / "good.py"),
        "broken": str(tmp_path / "broken.py"),
        "not_json": str(tmp_path / "not-json.json"),
        "other": str(tmp_path / "other.json"),
        "folder": str(tmp_path / "folder"),
        "missing": str(tmp_path / "missing.py"),
        "missing_json": str(tmp_path / "missing.json"),
        # A folder cannot be made under a plain file.
        "unwritable": str(tmp_path / "a-file" / "out"),
        "out": str(tmp_path / "out"),
    }


#: (command line with {placeholders} from `files`, exit status, what the one line says)
SWEEP = [
    ([], 2, "no command given: trace, render, tui or demo (try 'gradviz --help')"),
    (["--bogus"], 2, "unrecognized arguments: --bogus (try 'gradviz --help')"),
    (["paint"], 2, "invalid choice: 'paint'"),
    (["trace"], 2, "no script given: gradviz trace [OPTIONS] SCRIPT [ARGS...], or -m MODULE"),
    (["trace", "-m"], 2, "no script given"),
    (["trace", "--format"], 2, "argument --format: expected one argument"),
    (["trace", "--format", "bmp", "{script}"], 2, "unknown format bmp (choose from svg, dot"),
    (["trace", "--format", ",", "{script}"], 2, "unknown format"),
    (["trace", "--depth", "-1", "{script}"], 2, "argument --depth: expected a module depth"),
    (["trace", "--depth", "deep", "{script}"], 2, "argument --depth: expected a module depth"),
    (
        ["trace", "--depth", "1", "--full", "{script}"],
        2,
        "argument --full: not allowed with argument --depth",
    ),
    (["trace", "--max-backward", "-2", "{script}"], 2, "expected a number or 'all', got '-2'"),
    (["trace", "--dpi", "0", "{script}"], 2, "argument --dpi: expected dots per inch from 1 to 1200"),
    (["trace", "--dpi", "5000", "{script}"], 2, "expected dots per inch from 1 to 1200, got '5000'"),
    (["trace", "--dpi", "1e3", "{script}"], 2, "expected dots per inch from 1 to 1200, got '1e3'"),
    (["trace", "--rankdir", "XY", "{script}"], 2, "argument --rankdir: expected TB or LR, got 'XY'"),
    (["trace", "--bogus", "{script}"], 2, "unrecognized arguments: --bogus (try 'gradviz trace --help')"),
    (["trace", "{missing}"], 2, "no such file"),
    (["trace", "{folder}"], 2, "is a directory, not a Python script"),
    (["trace", "{broken}"], 2, "SyntaxError in"),
    (["trace", "-m", "gradviz_no_such_module"], 2, "no module named gradviz_no_such_module"),
    (["trace", "--out", "{unwritable}", "{script}"], 2, "cannot write to"),
    (
        ["render"],
        2,
        "no trace file given: the trace.json that gradviz trace wrote (try 'gradviz render --help')",
    ),
    (["render", "{missing_json}"], 1, "cannot read"),
    (["render", "{not_json}"], 1, "the file is not valid JSON"),
    (["render", "{other}"], 1, "schema is 'other/1'"),
    (["render", "{folder}"], 1, "cannot read"),
    (["render", "{trace}", "--format", "bmp"], 2, "unknown format bmp"),
    (
        ["render", "{trace}", "--step", "99", "--out", "{out}"],
        2,
        "step 99 is out of range: backward call 1 has",
    ),
    (["render", "{trace}", "--step", "-1", "--out", "{out}"], 2, "step -1 is out of range"),
    (["render", "{trace}", "--step", "two"], 2, "argument --step: invalid int value: 'two'"),
    (["render", "{trace}", "--step", "1", "--format", "html", "--out", "{out}"], 2, "--step draws svg"),
    (["render", "{trace}", "--depth", "x"], 2, "argument --depth: expected a module depth"),
    (["render", "{trace}", "--dpi", "0"], 2, "argument --dpi"),
    (["render", "{trace}", "--rankdir", "Q"], 2, "argument --rankdir"),
    (["render", "{trace}", "--out", "{unwritable}"], 2, "cannot write to"),
    (["render", "{trace}", "--max-backward", "3"], 2, "unrecognized arguments: --max-backward 3"),
    (["tui"], 2, "no trace file given: the trace.json that gradviz trace wrote (try 'gradviz tui --help')"),
    (["tui", "{missing_json}"], 1, "cannot read"),
    (["tui", "{not_json}"], 1, "the file is not valid JSON"),
    (["tui", "{trace}", "--call", "9"], 2, "--call 9: the trace has 2 backward calls; captured: 1, 2"),
    (["tui", "{trace}", "--call", "0"], 2, "--call 0: the trace has 2 backward calls"),
    (["tui", "{trace}", "--call", "x"], 2, "argument --call: invalid int value: 'x'"),
    (["demo", "--out", "{unwritable}"], 2, "cannot write to"),
    (["demo", "extra"], 2, "unrecognized arguments: extra (try 'gradviz demo --help')"),
]


@pytest.mark.parametrize(
    ("argv", "status", "says"), SWEEP, ids=[" ".join(case[0]) or "(none)" for case in SWEEP]
)
def test_bad_input_gives_one_line_and_the_documented_status(
    argv: list[str], status: int, says: str, files: dict[str, str], capsys: Capsys
) -> None:
    # When the command line runs in-process
    code = main([part.format(**files) for part in argv])

    # Then one line on stderr, starting with gradviz:, no traceback, nothing on stdout, and the status
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("gradviz")]
    assert "Traceback" not in err and out == ""
    assert len(lines) == 1 and lines[0].startswith("gradviz: "), err
    assert says.format(**files) in lines[0]
    assert code == status
    if argv[:1] in (["render"], ["tui"]) and status == 2 and "cannot write" not in says:
        # a bad option value names the help to read, as argparse's own errors do
        assert lines[0].endswith(f"(try 'gradviz {argv[0]} --help')")


def test_a_module_that_cannot_be_found_leaves_no_output_folder_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    # Given a working folder with one empty folder the user made, and none of gradviz's
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()

    # When -m names no module, once with the default output folder and once under the user's folder
    default = main(["trace", "-m", "gradviz_no_such_module"])
    chosen = main(["trace", "--out", "mine/deeper/out", "-m", "gradviz_no_such_module"])

    # Then both fail with the one line, and only the user's own (empty) folder is left
    assert default == chosen == 2
    assert capsys.readouterr().err.count("gradviz: no module named gradviz_no_such_module") == 2
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == ["mine"]
