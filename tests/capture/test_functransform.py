"""torch.func transforms under the tracer: their own grad calls are theirs, not the user's backward calls."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from gradviz.capture.functransform import in_transform
from gradviz.capture.session import Tracer


def per_sample_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """DP-SGD's per-sample gradients: ``vmap(grad(...))`` over a ``functional_call`` of the model."""
    params = {name: p.detach() for name, p in model.named_parameters()}

    def sample_loss(p: dict[str, torch.Tensor], sample: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (sample.unsqueeze(0),)), target.unsqueeze(0))

    result: dict[str, torch.Tensor] = vmap(grad(sample_loss), in_dims=(None, 0, 0))(params, x, y)
    return result


def test_in_transform_is_true_only_inside_a_torch_func_transform() -> None:
    inside: list[bool] = []

    def f(t: torch.Tensor) -> torch.Tensor:
        inside.append(in_transform())
        return (t * t).sum()

    grad(f)(torch.ones(2))
    vmap(f)(torch.ones(3, 2))
    assert inside == [True, True] and not in_transform()


def test_per_sample_gradients_run_untouched_and_the_users_backward_is_captured() -> None:
    # Given: per-sample gradients twice, then an ordinary backward, with a budget of one call
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    expected = per_sample_grads(model, x, y)

    with Tracer(max_backward=1) as tracer:
        first = per_sample_grads(model, x, y)
        per_sample_grads(model, x, y)
        F.cross_entropy(model(x[:1]), y[:1]).backward()

    # Then: the same gradients as without the tracer, the first sample's equal to backward's, and the
    # user's one backward call is the one captured, with no capture problem
    assert all(torch.equal(first[name], expected[name]) for name in expected)
    assert torch.allclose(first["2.bias"][0], model[2].bias.grad)
    assert tracer.backward_calls == 1
    (call,) = tracer.backwards
    assert call.index == 1 and call.api == "backward"
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []


def test_past_the_budget_per_sample_gradients_leave_the_timeline_recording() -> None:
    # Given: the budget spent on the first backward, then a DP-SGD step and an evaluation under no_grad
    torch.manual_seed(1)
    model = nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    with Tracer(max_backward=1) as tracer:
        F.cross_entropy(model(x), y).backward()
        grads = per_sample_grads(model, x, y)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.sub_(0.1 * grads[name].mean(0))
            model(x)

    # Then: no capture problem, and the evaluation under no_grad is still noted
    assert tracer.backward_calls == 1
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []
    assert any(f.kind == "no_grad" for f in tracer.findings)


def test_a_penalty_on_per_sample_gradients_is_captured_through_them() -> None:
    # Given: per-sample gradients of parameters that require grad, and a backward through them
    torch.manual_seed(2)
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    params = dict(model.named_parameters())

    def f(p: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (sample,)).pow(2).sum()

    def penalty() -> torch.Tensor:
        per_sample = vmap(grad(f), in_dims=(None, 0))(params, x)
        return sum((g.pow(2).sum() for g in per_sample.values()), torch.zeros(()))

    penalty().backward()
    expected = model.weight.grad.clone()
    model.zero_grad()
    with Tracer() as tracer:
        penalty().backward()

    # Then: one call, captured, and the leaf's recorded .grad is torch's
    (call,) = tracer.backwards
    leaves = [n.tensor for n in call.graph.nodes if n.tensor is not None and n.tensor.is_leaf]
    (weight,) = [leaf for leaf in leaves if leaf.label == "model.weight"]
    assert weight.grad_after is not None and weight.grad_after.values is not None
    assert torch.tensor(weight.grad_after.values).allclose(expected)
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []


def test_a_vjp_function_called_after_its_transform_returned_is_not_the_users_call() -> None:
    # Given: torch.func.vjp's function, called outside the transform on functorch's wrapped tensors
    x = torch.randn(3)
    with Tracer() as tracer:
        _, vjp_fn = torch.func.vjp(torch.sin, x)
        (cotangent,) = vjp_fn(torch.ones(3))
        w = torch.randn(3, requires_grad=True)
        (w * w).sum().backward()

    # Then: torch's own vJ, and only the user's backward is counted and captured, without a problem
    assert torch.allclose(cotangent, torch.cos(x))
    assert tracer.backward_calls == 1 and len(tracer.backwards) == 1
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []
