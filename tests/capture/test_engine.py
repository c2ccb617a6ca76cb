"""Wrapping torch's engine: what is put back when tracing ends, and the calls that are not the user's."""

from __future__ import annotations

import warnings
from typing import Any

import torch

import gradviz


def test_a_wrapper_the_script_installs_while_traced_stays_and_only_passes_through_gradviz_after() -> None:
    # Given: the script wraps the engine itself while gradviz traces (as another tool might)
    original = torch.autograd._engine_run_backward
    seen: list[int] = []
    with gradviz.trace() as tracer:
        inner = torch.autograd._engine_run_backward

        def theirs(*args: Any, **kwargs: Any) -> Any:
            seen.append(1)
            return inner(*args, **kwargs)

        torch.autograd._engine_run_backward = theirs
    try:
        # When: backward runs after tracing ended
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        # Then: their wrapper is still in place and ran; gradviz neither counted nor captured the call
        assert torch.autograd._engine_run_backward is theirs and seen == [1]
        assert torch.equal(x.grad, torch.tensor([2.0, 4.0]))
        assert tracer.backward_calls == 0 and tracer.backwards == ()
    finally:
        torch.autograd._engine_run_backward = original


def test_torch_compile_tracing_the_backward_is_not_counted_as_the_users_call() -> None:
    # Given: a compiled model (AOT autograd traces its backward once, on fake tensors, while compiling)
    torch.manual_seed(0)
    model, x = torch.nn.Linear(3, 2), torch.randn(4, 3)
    model(x).pow(2).sum().backward()
    expected = model.weight.grad.clone()
    model.zero_grad()
    compiled = torch.compile(model, backend="aot_eager")
    try:
        with warnings.catch_warnings(record=True) as caught, gradviz.trace() as tracer:
            warnings.simplefilter("always")
            compiled(x).pow(2).sum().backward()
    finally:
        torch._dynamo.reset()

    # Then: Dynamo traced no code of gradviz's (it warns on what it cannot trace), and the user's one
    # backward is call 1, captured with the .grad eager PyTorch computes
    assert [str(w.message) for w in caught] == []
    assert torch.allclose(model.weight.grad, expected)
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []
    assert tracer.backward_calls == 1 and [call.index for call in tracer.backwards] == [1]
    leaves = [node.tensor for node in tracer.backwards[0].graph.nodes if node.is_accumulate_grad]
    weight = next(t for t in leaves if t is not None and t.shape == (2, 3))
    assert weight.grad_after is not None
    assert torch.allclose(torch.tensor(weight.grad_after.values), expected)
