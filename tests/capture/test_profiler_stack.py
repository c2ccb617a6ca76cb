"""torch.profiler with ``with_stack=True`` under the tracer: it runs, and sees the same module calls."""

from __future__ import annotations

import subprocess
import sys

from tests.corpus.harness import environment

# In a child process of its own each time (torch's profiler keeps the code of nn.Module.__call__ it saw
# first): before the fix, its Python tracer crashed the traced process (SIGSEGV).
PROFILED_MODULES = """
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from gradviz.capture.session import Tracer


def modules_profiled(model):
    with profile(activities=[ProfilerActivity.CPU], with_stack=True) as prof:
        model(torch.randn(2, 3)).sum().backward()
    return sorted(event.key for event in prof.key_averages() if event.key.startswith("nn.Module"))


def steps():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    print(modules_profiled(model))  # the first backward call: captured
    for _ in range(2):
        model(torch.randn(2, 3)).sum().backward()
    print(modules_profiled(model))  # past the capture budget


if sys.argv[1] == "traced":
    with Tracer(max_backward=1):
        steps()
else:
    steps()
"""


def test_profiler_with_stack_sees_the_same_module_calls() -> None:
    # Given/When: a model's forward and backward profiled with Python stacks, plain and traced, within
    # the capture budget and past it
    plain, traced = (
        subprocess.run(
            [sys.executable, "-c", PROFILED_MODULES, how], env=environment(), capture_output=True, text=True
        )
        for how in ("plain", "traced")
    )

    # Then: the traced process ends normally and the profiler names each module call as in the plain run
    assert traced.returncode == 0, traced.stderr[-2000:]
    assert "nn.Module: Linear_1" in plain.stdout
    assert traced.stdout == plain.stdout
