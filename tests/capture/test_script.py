"""The script runner behaves like ``python SCRIPT ARGS`` and ``python -m MODULE ARGS``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradviz.capture.script import INTERRUPTED, load_script, run_module, run_script
from gradviz.errors import UsageError


class RecordingTracer:
    """Stands in for the Tracer: remembers the exceptions it was told about."""

    def __init__(self) -> None:
        self.noted: list[BaseException] = []

    def note_exception(self, exc: BaseException) -> None:
        self.noted.append(exc)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


REPORT = """\
import json, sys
print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "file": __file__, "name": __name__}))
"""


def test_script_sees_argv_path_and_file_like_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path / "sub", "report.py", REPORT)
    argv_before, path_before = sys.argv[:], sys.path[:]

    status = run_script(str(script), ["--lr", "0.1", "x"], RecordingTracer())

    seen = json.loads(capsys.readouterr().out)
    assert status == 0
    assert seen == {
        "argv": [str(script), "--lr", "0.1", "x"],
        "path0": str(script.parent),
        "file": str(script),
        "name": "__main__",
    }
    assert sys.argv == argv_before
    assert sys.path == path_before


def test_relative_script_keeps_argv0_as_typed_but_file_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "sub", "report.py", REPORT)
    monkeypatch.chdir(tmp_path)

    run_script(os.path.join("sub", "report.py"), [], RecordingTracer())

    seen = json.loads(capsys.readouterr().out)
    assert seen["argv"] == [os.path.join("sub", "report.py")]
    assert seen["file"] == str(tmp_path / "sub" / "report.py")


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [
        ("sys.exit(3)", 3, ""),
        ("sys.exit()", 0, ""),
        ("sys.exit(0)", 0, ""),
        ("sys.exit('bad data')", 1, "bad data\n"),
        ("raise SystemExit(7)", 7, ""),
    ],
)
def test_sys_exit_gives_the_status_python_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, status: int, stderr: str
) -> None:
    script = write(tmp_path, "leave.py", f"import sys\nprint('before')\n{code}\nprint('after')\n")

    assert run_script(str(script), [], RecordingTracer()) == status

    out, err = capsys.readouterr()
    assert out == "before\n"
    assert err == stderr


def test_uncaught_exception_prints_the_users_traceback_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, "boom.py", "def inner():\n    raise ValueError('no good')\n\ninner()\n")
    tracer = RecordingTracer()

    status = run_script(str(script), [], tracer)

    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("Traceback (most recent call last):\n")
    assert f'File "{script}", line 4, in <module>' in err
    assert f'File "{script}", line 2, in inner' in err
    assert err.rstrip().endswith("ValueError: no good")
    assert "gradviz" not in err.replace(str(tmp_path), "")
    assert "runpy" not in err
    assert [type(exc) for exc in tracer.noted] == [ValueError]


def test_a_failing_explanation_does_not_hide_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class BrokenTracer:
        def note_exception(self, exc: BaseException) -> None:
            raise RuntimeError("bug in gradviz")

    script = write(tmp_path, "boom.py", "raise KeyError('k')\n")

    assert run_script(str(script), [], BrokenTracer()) == 1
    err = capsys.readouterr().err
    assert "KeyError: 'k'" in err
    assert "bug in gradviz" not in err


def test_keyboard_interrupt_gives_130(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = write(tmp_path, "stop.py", "raise KeyboardInterrupt\n")

    assert run_script(str(script), [], RecordingTracer()) == INTERRUPTED == 130
    assert "KeyboardInterrupt" in capsys.readouterr().err


def test_script_is_the_main_module_so_pickle_finds_its_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(
        tmp_path,
        "pick.py",
        "import pickle\nclass Point:\n    x = 1\nprint(type(pickle.loads(pickle.dumps(Point()))).__name__)\n",
    )
    main_before = sys.modules["__main__"]

    assert run_script(str(script), [], RecordingTracer()) == 0

    assert capsys.readouterr().out == "Point\n"
    assert sys.modules["__main__"] is main_before


def test_script_does_not_inherit_gradvizs_future_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without `from __future__ import annotations`, Python evaluates this annotation at def time.
    script = write(tmp_path, "ann.py", "def f(x: undefined_name) -> None:\n    pass\n")

    assert run_script(str(script), [], RecordingTracer()) == 1
    assert "NameError: name 'undefined_name' is not defined" in capsys.readouterr().err


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no such file: .*nothere\.py"):
        load_script(str(tmp_path / "nothere.py"))


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        load_script(str(tmp_path))


@pytest.mark.parametrize("content", [b"x = 1\x00\x00", b"\x89PNG\r\n\x1a\n\xff\xd8\xff"])
def test_binary_file_is_not_python(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)

    with pytest.raises(UsageError, match=r"^model.pt is not a Python script"):
        load_script(str(path))


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    script = write(tmp_path, "bad.py", "import torch\n\nx = (1,\ny = 2 +\n")

    with pytest.raises(UsageError) as caught:
        load_script(str(script))

    message = str(caught.value)
    assert message.startswith("SyntaxError in bad.py line ")
    assert "\n" not in message


def test_syntax_error_line_number_is_the_offending_line(tmp_path: Path) -> None:
    script = write(tmp_path, "bad.py", "a = 1\nb = 2\nc = = 3\n")

    with pytest.raises(UsageError, match=r"^SyntaxError in bad.py line 3: invalid syntax"):
        load_script(str(script))


def test_module_runs_like_python_dash_m(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = write(tmp_path / "pkg", "tool.py", REPORT)
    write(tmp_path / "pkg", "__init__.py", "")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "pkg", raising=False)
    path_before = sys.path[:]

    status = run_module("pkg.tool", ["a", "b"], RecordingTracer())

    seen = json.loads(capsys.readouterr().out)
    assert status == 0
    assert seen["argv"] == [str(module), "a", "b"]
    assert seen["path0"] == str(tmp_path)
    assert seen["name"] == "__main__"
    assert sys.path == path_before


def test_module_exit_status_and_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "crash_mod.py", "raise RuntimeError('from a module')\n")
    monkeypatch.chdir(tmp_path)
    tracer = RecordingTracer()

    assert run_module("crash_mod", [], tracer) == 1

    err = capsys.readouterr().err
    assert "RuntimeError: from a module" in err
    assert "runpy" not in err
    assert len(tracer.noted) == 1


def test_missing_module_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(UsageError, match="no module named no_such_module_here"):
        run_module("no_such_module_here", [], RecordingTracer())


BUILTINS = "print(type(__builtins__).__name__, __builtins__ is __import__('builtins'))\n"


def test_builtins_is_what_python_gives_main(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: a script and a module that print what __builtins__ is, and what plain python says
    script = write(tmp_path, "show_builtins.py", BUILTINS)
    write(tmp_path / "bpkg", "__init__.py", "")
    write(tmp_path / "bpkg", "show.py", BUILTINS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "bpkg", raising=False)
    plain = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout

    # When: both run under the runner
    run_script(str(script), [], RecordingTracer())
    run_module("bpkg.show", [], RecordingTracer())

    # Then: each sees the builtins module itself, as under python
    assert plain == "module True\n"
    assert capsys.readouterr().out == plain + plain
