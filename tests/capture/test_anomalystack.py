"""Anomaly mode's forward tracebacks read as in a plain run: no gradviz frame in them."""

from __future__ import annotations

import subprocess
import sys
import warnings
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from gradviz.capture.session import Tracer
from tests.corpus.harness import environment


def forward_stacks() -> list[list[str]]:
    """The forward stacks anomaly mode keeps on the Nodes of a C-level op, a torch Python function and a
    module."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Anomaly Detection has been enabled"
        with torch.autograd.detect_anomaly():
            doubled = x * 2
            relu = F.relu(doubled)
            out = layer(relu)
    return [list(t.grad_fn.metadata["traceback_"]) for t in (doubled, relu, out)]


def test_forward_stacks_have_no_gradviz_frame() -> None:
    # Given/When: the forward stacks of a plain run and of a traced one, called from the same line
    stacks = []
    tracings: tuple[AbstractContextManager[object], ...] = (nullcontext(), Tracer(max_backward=None))
    for tracing in tracings:
        with tracing:
            stacks.append(forward_stacks())

    # Then: the same frames, gradviz's torch function mode and torch's hand-over to it left out
    plain, traced = stacks
    assert traced == plain


NAN_SCRIPT = """\
import torch

w = torch.zeros(3, requires_grad=True)


def radius(w):
    return (w * w).sqrt().sum()


with torch.autograd.detect_anomaly():
    loss = radius(w)
print("".join(loss.grad_fn.next_functions[0][0].metadata["traceback_"]), end="")
try:
    with torch.autograd.detect_anomaly():
        loss.backward()
except RuntimeError as error:
    print(str(error).splitlines()[0])
"""


def test_cli_run_shows_the_plain_forward_traceback(tmp_path: Path) -> None:
    # Given: a script whose backward returns NaN under anomaly mode
    script = tmp_path / "nan.py"
    script.write_text(NAN_SCRIPT)

    # When: it runs plain, and under `gradviz trace`
    trace = ["-m", "gradviz", "trace", "--quiet", "--out", str(tmp_path / "out")]
    runs = [
        subprocess.run(
            [sys.executable, *args, str(script)],
            cwd=tmp_path,
            env=environment(),
            capture_output=True,
            text=True,
        )
        for args in ([], trace)
    ]

    # Then: the kept stack and torch's "Traceback of forward call" warning start at the script's frame
    plain, traced = runs
    assert plain.stdout.startswith(f'  File "{script}", line 11, in <module>\n')
    assert traced.stdout == plain.stdout
    assert traced.stderr == plain.stderr
