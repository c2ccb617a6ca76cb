"""gradviz.explain(tensor): why tensor.grad is what it is, one test per case."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import gradviz
from gradviz.capture.explain import explain
from gradviz.capture.session import Tracer


def test_leaf_with_grad_accumulated_over_several_calls() -> None:
    with Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        for _ in range(3):
            (w * w).sum().backward()
        text = explain(w, tracer.events, tracer.backwards)
    assert w.grad is not None and w.grad.tolist() == [6.0, 12.0]
    assert text.startswith("w.grad = [6.0, 12.0] is the sum over 3 backward calls")
    assert "zero_grad()" in text


def test_leaf_with_grad_from_one_call() -> None:
    with Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        (w * 3).sum().backward()
        text = explain(w, tracer.events, tracer.backwards)
    assert text.startswith("w.grad = [3.0, 3.0] comes from backward call 1")
    assert "(w * 3).sum().backward()" in text


def test_non_leaf_without_retain_grad() -> None:
    with Tracer() as tracer:
        a = torch.ones(2, requires_grad=True)
        h = a * 2
        h.sum().backward()
        text = explain(h, tracer.events, tracer.backwards)
    assert "h is not a leaf" in text and "grad_fn=MulBackward0" in text and "h = a * 2" in text
    assert "h.retain_grad()" in text


def test_non_leaf_with_retain_grad() -> None:
    with Tracer() as tracer:
        a = torch.ones(2, requires_grad=True)
        h = a * 2
        h.retain_grad()
        h.sum().backward()
        text = explain(h, tracer.events, tracer.backwards)
    assert "retain_grad() was called" in text and "[1.0, 1.0]" in text


def test_made_under_no_grad() -> None:
    with Tracer() as tracer:
        a = torch.ones(2, requires_grad=True)
        with torch.no_grad():
            d = a * 2
        text = explain(d, tracer.events, tracer.backwards)
    assert text.startswith("d was computed under torch.no_grad()")
    assert "d = a * 2" in text and "no grad_fn" in text and ".grad is None" in text


def test_detached() -> None:
    with Tracer() as tracer:
        a = torch.ones(2, requires_grad=True)
        e = (a * 2).detach()
        text = explain(e, tracer.events, tracer.backwards)
    assert text.startswith("e was made by .detach()") and "e = (a * 2).detach()" in text


def test_requires_grad_false() -> None:
    with Tracer() as tracer:
        x = torch.ones(2)
        (x * 2).sum()
        text = explain(x, tracer.events, tracer.backwards)
    assert "x has requires_grad=False" in text and "requires_grad=True" in text


def test_not_connected_to_the_loss() -> None:
    with Tracer() as tracer:
        used = torch.ones(2, requires_grad=True)
        unused = torch.ones(2, requires_grad=True)
        (used * 2).sum().backward()
        text = explain(unused, tracer.events, tracer.backwards)
    assert "none of the 1 captured backward call(s) reached it" in text
    assert "not connected to the loss" in text


def test_edited_through_data() -> None:
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        y = (w * w).sum()
        w.data *= 10
        y.backward()
        text = explain(w, tracer.events, tracer.backwards)
    assert "changed through .data" in text and "w.data *= 10" in text


def test_without_a_trace_it_explains_from_the_tensor_alone() -> None:
    a = torch.ones(2, requires_grad=True)
    h = a * 2
    assert "h is not a leaf" in explain(h, None, ())
    text = explain(a, None, ())
    assert "no backward call has reached it since it was created or since its .grad was last set" in text
    assert "or it is not connected to the loss" in text


def test_without_a_trace_a_grad_cleared_by_zero_grad_is_not_called_unreached() -> None:
    # Given: one real training step, then the usual zero_grad (set_to_none=True)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    weight = model.weight

    text = explain(weight, None, ())

    # Then: the possibilities, zero_grad among them, and how to tell which
    assert weight.grad is None
    assert "(optimizer.zero_grad() does that)" in text and "not connected to the loss" in text
    assert "inside gradviz.trace() tells which" in text
    assert "no backward call has reached it yet" not in text


def test_without_a_trace_an_all_zero_grad_is_said_to_be_just_zeroed() -> None:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    bias = model.bias

    text = explain(bias, None, ())

    assert bias.grad is not None and not bias.grad.any()  # what torch left: zeros
    assert text.startswith("bias is a leaf and bias.grad is all zeros: it was most likely just zeroed")
    assert "the sum of the gradients" not in text


@pytest.mark.parametrize("made", ["no_grad", "detach"])
def test_without_a_trace_requires_grad_false_names_every_way_it_could_have_happened(made: str) -> None:
    x = torch.ones(2, requires_grad=True)
    if made == "no_grad":
        with torch.no_grad():
            shifted = x + 1
    else:
        shifted = (x + 1).detach()

    text = explain(shifted, None, ())

    assert not shifted.requires_grad
    assert "torch.no_grad()" in text and ".detach()" in text and "created without requires_grad=True" in text
    assert "inside gradviz.trace() tells which" in text


def test_an_unnamed_tensor_is_called_it_not_this_tensor_grad() -> None:
    leaves = [torch.ones(2, requires_grad=True)]  # held in a list: no variable names it
    (leaves[0] * 3).sum().backward()

    text = explain(leaves[0], None, ())

    assert "this tensor.grad" not in text
    assert text.startswith("This tensor is a leaf: its .grad = [3.0, 3.0] is the sum")


def test_public_api_uses_the_last_trace() -> None:
    with gradviz.trace():
        w = torch.ones(2, requires_grad=True)
        (w * 5).sum().backward()
        (w * 5).sum().backward()
    assert gradviz.explain(w).startswith("w.grad = [10.0, 10.0] is the sum over 2 backward calls")


def test_calls_past_the_capture_budget_are_mentioned() -> None:
    with Tracer(max_backward=2) as tracer:
        w = torch.ones(2, requires_grad=True)
        for _ in range(5):
            (w * 1).sum().backward()
        text = explain(w, tracer.events, tracer.backwards, calls_seen=tracer.backward_calls)
    assert w.grad is not None and w.grad.tolist() == [5.0, 5.0]
    assert "sum over 2 backward calls" in text
    assert "3 later backward call(s) were counted but not captured" in text


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc1(x)


def zero_with_optimizer(model: Net, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad()


def zero_by_none(model: Net, opt: torch.optim.Optimizer) -> None:
    model.fc1.weight.grad = None


def zero_in_place(model: Net, opt: torch.optim.Optimizer) -> None:
    if model.fc1.weight.grad is not None:
        model.fc1.weight.grad.zero_()


def zero_through_data(model: Net, opt: torch.optim.Optimizer) -> None:
    if model.fc1.weight.grad is not None:
        model.fc1.weight.grad.data.zero_()


@pytest.mark.parametrize(
    "zero", [zero_with_optimizer, zero_by_none, zero_in_place, zero_through_data], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("max_backward", [None, 1])
def test_after_each_zeroing_idiom_the_grad_comes_from_the_last_call_alone(
    zero: Callable[[Net, torch.optim.Optimizer], None], max_backward: int | None
) -> None:
    # Given: a training loop that zeroes the gradient before each backward, captured or past the budget
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.trace(max_backward=max_backward):
        for _ in range(3):
            zero(model, opt)
            model(torch.randn(4, 3)).pow(2).sum().backward()
            last = model.fc1.weight.grad.clone()
            opt.step()
    # When
    text = gradviz.explain(model.fc1.weight)
    # Then: only the last call counts, and the parameter is named by its module path
    assert torch.equal(model.fc1.weight.grad, last)
    assert text.startswith("model.fc1.weight.grad = [[") and "comes from backward call 3" in text
    assert "is the sum over" not in text and "zero_grad" not in text


def test_a_grad_set_to_none_after_the_last_call_says_so() -> None:
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.trace():
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
    assert model.fc1.bias.grad is None
    assert gradviz.explain(model.fc1.bias).startswith(
        "model.fc1.bias.grad is None: it was set to None after backward call 1"
    )


def test_a_grad_zeroed_in_place_after_the_last_call_says_so() -> None:
    model = Net()
    with gradviz.trace():
        model(torch.randn(4, 3)).sum().backward()
        model.zero_grad(set_to_none=False)
    assert gradviz.explain(model.fc1.bias).startswith(
        "model.fc1.bias.grad is all zeros: it was zeroed in place"
    )


def test_a_forgotten_zeroing_is_explained_as_a_sum_across_updates() -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.trace(max_backward=2):
        for _ in range(3):
            model(torch.randn(4, 3)).sum().backward()
            opt.step()
    text = gradviz.explain(model.fc1.bias)
    assert text.startswith("model.fc1.bias.grad = [")
    assert "is the sum over 3 backward calls since .grad was last empty or zeroed (calls 1, 2, 3)" in text
    assert "updated in between" in text and "optimizer.zero_grad()" in text


def test_a_grad_never_emptied_keeps_one_gradient_however_many_calls_add_into_it() -> None:
    # Given: past the budget, a script that never empties .grad (the forgotten zero_grad) over 60 calls,
    # with the weight updated by hand in between
    w = torch.linspace(-1.0, 1.0, 32, requires_grad=True)
    with gradviz.trace(max_backward=1) as t:
        for _ in range(60):
            (w * w).sum().backward()
            with torch.no_grad():
                w -= 0.001 * w.grad
        text = gradviz.explain(w)
        arrivals = t._leaves.arrivals(w)

    # Then: explain still counts every call and says when the update ran, and only the last call's arrival
    # still holds a gradient (the others keep their call number alone)
    assert w.grad is not None
    assert text.startswith("w.grad = a tensor of shape [32] is the sum over 60 backward calls")
    assert "updated in between (before call 2)" in text
    assert len(arrivals) == 60 and [a.grad is not None for a in arrivals] == [False] * 59 + [True]
    assert arrivals[-1].grad_after is not None
    assert arrivals[-1].grad_after.norm == pytest.approx(float(w.grad.norm()), rel=1e-6)
