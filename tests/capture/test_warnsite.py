"""Torch's warnings under gradviz: at the same lines, as many, and no others, as in a plain run."""

from __future__ import annotations

import subprocess
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gradviz.capture.session import Tracer

# Python-level warnings (softmax's implicit dim, from the user's line and from inside nn.Module), a C++
# TORCH_WARN (copy-constructing with torch.tensor), the same texts again from other lines (Python's
# once-per-location registry must not hide them), a non-leaf .grad read, and warnings after the capture
# budget is spent (the mode then only passes ops through).
SCRIPT = """\
import torch
import torch.nn.functional as F

x = torch.ones(2, 3, requires_grad=True)
a = F.softmax(x)
b = torch.tensor(x)
c = F.softmax(x * 2)
d = torch.tensor(x * 2)
y = (a * 3).sum()
_ = y.grad
for step in range(4):
    (c * step).sum().backward(retain_graph=True)
e = torch.nn.Softmax()(x)
f = torch.tensor(e)
print("done")
"""


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)


def test_warnings_on_stderr_are_those_of_a_plain_run(tmp_path: Path) -> None:
    # Given: a script whose torch calls warn, run by plain python
    script = tmp_path / "warns.py"
    script.write_text(SCRIPT)
    plain = run([sys.executable, str(script)], tmp_path)

    # When: it runs under gradviz trace, without the summary
    traced = run(
        [sys.executable, "-m", "gradviz", "trace", "--quiet", "--out", str(tmp_path / "out"), str(script)],
        tmp_path,
    )

    # Then: stdout, status and every warning line are the same, at the user's lines
    assert (traced.returncode, traced.stdout) == (plain.returncode, plain.stdout) == (0, "done\n")
    assert traced.stderr == plain.stderr
    assert f"{script}:7: UserWarning: Implicit dimension choice" in plain.stderr
    assert f"{script}:14: UserWarning: To copy construct" in plain.stderr


def test_warnings_as_errors_raise_from_the_op_as_without_gradviz() -> None:
    # Given: warnings turned into errors, as with python -W error
    x = torch.ones(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning) as plain:
            F.softmax(x)

        # When: the same op runs traced
        with Tracer(), pytest.raises(UserWarning) as traced:
            F.softmax(x)

    # Then: the same warning is raised as an exception
    assert str(traced.value) == str(plain.value)


def test_tracing_leaves_pythons_warning_machinery_as_it_was() -> None:
    # Given: Python's warning filters and display before tracing
    filters_before = list(warnings.filters)
    show_before = warnings._showwarnmsg  # type: ignore[attr-defined]

    # When: a trace starts and ends
    with Tracer():
        torch.ones(2).exp()

    # Then: both are back as they were
    assert warnings.filters == filters_before
    assert warnings._showwarnmsg is show_before  # type: ignore[attr-defined]


def softmax_warnings(traced: bool) -> list[tuple[str, int]]:
    """Where softmax's warning is shown when the same line runs three times, each in its own trace."""
    x = torch.ones(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            with Tracer() if traced else nullcontext():
                F.softmax(x)  # @softmax
    return [(warning.filename, warning.lineno) for warning in caught]


def test_a_warning_is_shown_once_per_line_as_python_shows_it() -> None:
    # Given: Python's default action shows a warning once per line: the plain run shows it once
    plain = softmax_warnings(traced=False)

    # When: each repetition runs in a trace of its own
    traced = softmax_warnings(traced=True)

    # Then: once, at the same line
    assert traced == plain == [(__file__, line_of("# @softmax"))]


def line_of(marker: str) -> int:
    return next(
        number for number, line in enumerate(Path(__file__).read_text().splitlines(), 1) if marker in line
    )


def test_a_fault_in_gradviz_still_shows_torchs_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: gradviz breaks while placing a warning
    def broken(*args: object) -> None:
        raise ValueError("injected")

    monkeypatch.setattr("gradviz.capture.warnsite.frames_of", broken)
    x = torch.ones(3)

    # When: torch warns inside a trace
    with warnings.catch_warnings(record=True) as caught, Tracer():
        warnings.simplefilter("always")
        F.softmax(x)

    # Then: the user's op ran and its warning is still shown (at gradviz's line, the one Python named)
    (warning,) = caught
    assert str(warning.message).startswith("Implicit dimension choice for softmax has been deprecated.")
