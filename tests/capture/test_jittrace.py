"""torch.jit.trace under the tracer: the same TorchScript graph as in a plain run, and it passes its check."""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext

import pytest
import torch

from gradviz.capture.session import Tracer


def traced_graph(warm_up: int) -> str:
    """The graph ``torch.jit.trace`` makes of a small model, after `warm_up` training steps (without the
    ``___torch_mangle_N`` that TorchScript adds to class names after their first use in a process)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(2, 3)
    for _ in range(warm_up):
        model(x).sum().backward()
        optimizer.step()
    return re.sub(r"___torch_mangle_\d+\.", "", str(torch.jit.trace(model, x).graph))


@pytest.mark.parametrize(
    ("max_backward", "warm_up"), [(None, 0), (1, 2)], ids=["captured", "past-the-budget"]
)
def test_jit_trace_gives_the_plain_graph(max_backward: int | None, warm_up: int) -> None:
    # Given/When: a model traced by TorchScript plain and under the tracer, from the same line
    graphs = []
    tracings: tuple[AbstractContextManager[object], ...] = (nullcontext(), Tracer(max_backward=max_backward))
    for tracing in tracings:
        with tracing:
            graphs.append(traced_graph(warm_up))

    # Then: the same graph, value names and source lines included (no gradviz frame in it)
    plain, traced = graphs
    assert "gradviz" not in traced
    assert traced == plain
