"""The user's own torch function and dispatch modes see exactly what they see without gradviz."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from gradviz.capture.session import Tracer


class CountingDispatch(TorchDispatchMode):
    """A user's op logger at the aten level."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


class CountingFunctions(TorchFunctionMode):
    """A user's logger of torch functions and Tensor methods."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def training_step() -> list[torch.Tensor]:
    """A small model's step with a saved scalar (``* 2``), a Linear and an optimizer."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(5, 4)
    loss = (model(x).tanh() * 2).pow(2).mean()
    loss.backward()
    optimizer.step()
    return [parameter.detach().clone() for parameter in model.parameters()]


def ops_seen(tracing: AbstractContextManager[object]) -> tuple[list[str], list[torch.Tensor]]:
    with tracing, CountingDispatch() as mode:
        weights = training_step()
    return mode.ops, weights


def test_user_dispatch_mode_sees_the_same_aten_ops() -> None:
    # Given: the aten ops a user's dispatch mode sees in a plain training step
    plain_ops, plain_weights = ops_seen(nullcontext())

    # When: the same step runs traced, the user's mode pushed inside the trace
    tracer = Tracer(max_backward=None)
    traced_ops, traced_weights = ops_seen(tracer)

    # Then: the same ops in the same order, the same weights, and the call captured without a problem
    assert traced_ops == plain_ops
    for got, want in zip(traced_weights, plain_weights, strict=True):
        assert torch.equal(got, want)
    (call,) = tracer.backwards
    assert len(call.steps) == len(call.nodes)
    assert [finding for finding in tracer.findings if finding.kind == "capture_problem"] == []


def test_user_function_mode_below_gradviz_sees_the_same_calls() -> None:
    # Given: the torch calls a user's function mode sees in a plain step
    with CountingFunctions() as plain:
        training_step()

    # When: gradviz starts tracing inside the user's mode, so its own mode sits above the user's
    with CountingFunctions() as traced, Tracer(max_backward=None):
        training_step()

    # Then: gradviz's reading of each op (grad_fn, _version, summaries) never reaches the user's mode
    assert traced.calls == plain.calls


def profiled_ops(tracing: AbstractContextManager[object]) -> dict[str, int]:
    """How often each op and autograd event ran in a training step, by the user's torch.profiler."""
    with tracing, torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        training_step()
    return {event.key: event.count for event in prof.key_averages()}


@pytest.mark.parametrize("max_backward", [None, 0], ids=["captured", "past-the-budget"])
def test_user_profiler_lists_the_same_ops(max_backward: int | None) -> None:
    # Given: the ops torch.profiler records in a plain training step
    plain = profiled_ops(nullcontext())

    # When: the same step runs traced, captured in full or only counted
    traced = profiled_ops(Tracer(max_backward=max_backward))

    # Then: gradviz's own reductions and copies are not in the user's profile
    assert traced == plain
