"""Wrapping torch's engine: what is put back when tracing ends, and which calls go straight through."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
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


def _per_sample_grads(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    def loss(w: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        return torch.tanh(row @ w).sum()

    grads: torch.Tensor = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(w, x)
    return grads


def test_torch_func_per_sample_gradients_run_untouched_and_leave_capture_on() -> None:
    # Given: DP-SGD style per-sample gradients (vmap over torch.func.grad), then an ordinary backward
    torch.manual_seed(0)
    w, x = torch.randn(3, 2), torch.randn(5, 3)
    ref = w.clone().requires_grad_()
    expected = torch.stack([torch.autograd.grad(torch.tanh(row @ ref).sum(), ref)[0] for row in x])
    leaf = w.detach().clone().requires_grad_()
    with gradviz.trace() as tracer:
        per_sample = _per_sample_grads(w.detach(), x)
        (x @ leaf).pow(2).sum().backward()

    # Then: torch.func's own engine calls went straight through (its tensors have no storage to read), and
    # the user's backward is the one call counted and captured, without a capture problem
    assert torch.allclose(per_sample, expected)
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []
    assert tracer.backward_calls == 1 and len(tracer.backwards) == 1
    (accumulate,) = [node for node in tracer.backwards[0].graph.nodes if node.is_accumulate_grad]
    assert accumulate.tensor is not None and accumulate.tensor.grad_after is not None
    assert accumulate.tensor.grad_after.norm == pytest.approx(leaf.grad.norm().item())


def test_a_meta_gradient_through_a_torch_func_inner_step_is_captured() -> None:
    # Given: a MAML-style outer loss on parameters adapted by one torch.func.grad step
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(6, 2), torch.randn(6, 1)

    def inner(params: dict[str, torch.Tensor]) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(model, params, (x,))
        return torch.nn.functional.mse_loss(out, y)

    def meta_loss() -> torch.Tensor:
        params = dict(model.named_parameters())
        step = torch.func.grad(inner)(params)
        return inner({name: p - 0.1 * step[name] for name, p in params.items()})

    meta_loss().backward()
    expected = model.weight.grad.clone()
    model.zero_grad()
    with gradviz.trace() as tracer:
        meta_loss().backward()

    # Then: the outer call is captured, and its recorded .grad is the one PyTorch computed
    assert torch.equal(model.weight.grad, expected)
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []
    (call,) = tracer.backwards
    leaves = [node.tensor for node in call.graph.nodes if node.is_accumulate_grad]
    weight = next(t for t in leaves if t is not None and t.shape == (1, 2))
    assert weight.grad_after is not None
    assert torch.allclose(torch.tensor(weight.grad_after.values), expected)


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
