"""Gradients summarised together after the call: the same numbers as torch, nothing stale, memory bounded."""

from __future__ import annotations

import math
import weakref
from typing import Any

import pytest
import torch

from gradviz.capture.gradbatch import GradBatch, summarize_all, summarize_batch
from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, Step, Value


def same(left: float | None, right: float, rel: float = 0.0) -> bool:
    assert left is not None
    return (math.isnan(left) and math.isnan(right)) or left == pytest.approx(right, rel=rel, abs=1e-12)


def agrees_with_torch(value: Value, tensor: torch.Tensor) -> bool:
    """The summary says what torch says of the tensor: shape, dtype, values when small, statistics."""
    assert value.shape == tuple(tensor.shape) and value.dtype == str(tensor.dtype).removeprefix("torch.")
    if tensor.numel() <= 100:
        listed = tensor.tolist()
        assert value.values is not None
        flat = torch.tensor(value.values, dtype=tensor.dtype).reshape(tensor.shape)
        assert torch.equal(flat, tensor) or torch.equal(flat.isnan(), tensor.isnan()), (value.values, listed)
    wide = tensor.float()
    rel = 1e-2 if tensor.element_size() < 4 else 1e-6
    return (
        same(value.min, tensor.min().item())
        and same(value.max, tensor.max().item())
        and same(value.mean, wide.mean().item(), rel)
        and same(value.norm, torch.linalg.vector_norm(wide).item(), rel)
    )


def test_a_batch_summarises_each_tensor_as_torch_reads_it() -> None:
    # Given tensors of several shapes and dtypes, some sharing a shape (those are reduced together)
    torch.manual_seed(0)
    weight = torch.randn(64, 48)
    tensors = [
        torch.randn(3, 4),
        torch.tensor(2.5),
        torch.randn(50, 50),
        torch.randn(50, 50) * 7,
        weight.t(),  # not contiguous
        torch.tensor([1.0, float("nan"), 3.0]),
        torch.randn(300).half(),
        torch.randn(4, 4, dtype=torch.float64),
        torch.randn(70_000),
    ]
    # When they are summarised in one batch
    values = summarize_batch(tensors)
    # Then each summary is what torch says of that tensor
    assert len(values) == len(tensors)
    for value, tensor in zip(values, tensors, strict=True):
        assert agrees_with_torch(value, tensor)


def test_tensors_without_statistics_are_summarised_one_by_one() -> None:
    sparse = torch.eye(3).to_sparse()
    values = summarize_all([None, torch.zeros(0), torch.ones(2, dtype=torch.complex64), sparse])
    assert values[0] is None
    assert values[1] == Value(shape=(0,), dtype="float32", values=())
    assert values[2] is not None and values[2].values == (1 + 0j, 1 + 0j) and values[2].norm is None
    assert values[3] is not None and values[3].shape == (3, 3) and values[3].values is None


def test_a_gradient_changed_in_place_after_its_hook_keeps_the_values_it_had() -> None:
    # Given a gradient taken by the batch, then changed in place by other code
    batch = GradBatch()
    grad = torch.ones(3)
    slot = batch.add(grad)
    grad.mul_(10)
    # Then its summary holds the values the hook saw, and the changed tensor is a new one
    assert batch.add(grad) != slot
    values = batch.resolve()
    assert values[slot] == summarize_all([torch.ones(3)])[0]
    assert values[-1] == summarize_all([torch.full((3,), 10.0)])[0]


def test_the_batch_lets_gradients_go_once_it_holds_enough() -> None:
    # Given a batch that may hold no bytes at all
    batch = GradBatch(hold_bytes=0)
    grad = torch.full((10, 10), 2.0)
    alive = weakref.ref(grad)
    slot = batch.add(grad)
    # When the gradient is dropped by everyone else
    del grad
    # Then the batch did not keep it alive, and its summary was made while it lived
    assert alive() is None
    assert batch.resolve()[slot] == summarize_all([torch.full((10, 10), 2.0)])[0]


def test_a_large_gradient_is_reduced_at_once_and_not_kept() -> None:
    batch = GradBatch()
    grad = torch.linspace(-1.0, 3.0, 10_000)
    alive = weakref.ref(grad)
    slot = batch.add(grad)
    assert batch.add(grad) == slot  # the same tensor, unchanged: the same summary
    expected = summarize_all([grad])[0]
    del grad
    assert alive() is None
    value = batch.resolve()[slot]
    assert value is not None and expected is not None
    assert (value.min, value.max) == (expected.min, expected.max)
    assert value.mean == pytest.approx(expected.mean) and value.norm == pytest.approx(expected.norm)


def test_large_gradients_of_any_layout_and_dtype_read_as_torch_reads_them_and_keep_their_values() -> None:
    # Given large gradients (reduced in the hook): many of one shape, a transposed one, an expanded one
    # (as mean's backward sends), half precision, and one changed in place after its hook
    torch.manual_seed(0)
    batch = GradBatch()
    tensors = [torch.randn(8, 16, 128) * (index + 1) for index in range(80)]
    tensors += [torch.randn(96, 128).t(), torch.tensor(0.25).expand(64, 128), torch.randn(9000).half()]
    changed = torch.linspace(-2.0, 2.0, 5000)
    expected_changed = summarize_all([changed.clone()])[0]
    slots = [batch.add(tensor) for tensor in tensors]
    changed_slot = batch.add(changed)
    changed.mul_(100)
    # When the call is over
    values = batch.resolve()
    # Then each summary is what torch says of that gradient, and the changed one keeps its values
    for slot, tensor in zip(slots, tensors, strict=True):
        value = values[slot]
        assert value is not None and agrees_with_torch(value, tensor)
    value = values[changed_slot]
    assert value is not None and expected_changed is not None
    assert (value.min, value.max) == (expected_changed.min, expected_changed.max)
    assert value.norm == pytest.approx(expected_changed.norm)


class DoublesInPlace(torch.autograd.Function):
    """A custom Function whose backward writes into the v it is given (allowed, if unusual)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.mul_(2)


def step_named(call: BackwardCall, name: str) -> Step:
    return next(step for step in call.steps if call.graph.nodes[step.node].name == name)


def test_captured_steps_match_torch_and_an_overwritten_v_shows_what_the_node_received() -> None:
    # Given a graph with a node whose backward overwrites its v in place
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * x
        y.retain_grad()
        z = DoublesInPlace.apply(y)
        (z * torch.tensor([1.0, 10.0, 100.0])).sum().backward()
    call = tracer.backwards[0]
    # Then the vJ each node sent is torch's own: y.grad, then x.grad
    assert torch.equal(y.grad, torch.tensor([2.0, 20.0, 200.0]))
    multiply_by_x = next(step for step in call.steps if step.grad_outputs[0] == summarize_all([y.grad])[0])
    assert multiply_by_x.grad_inputs[0] == summarize_all([x.grad / 2])[0]
    assert step_named(call, "AccumulateGrad").grad_outputs[0] == summarize_all([x.grad])[0]
    # And the v the custom node received is shown as received, before its backward overwrote it
    received = step_named(call, "DoublesInPlaceBackward").grad_outputs[0]
    assert received == summarize_all([torch.tensor([1.0, 10.0, 100.0])])[0]


def test_views_of_a_big_gradient_read_as_torch_reads_them_each_in_its_own_shape() -> None:
    # Given a big gradient, views of it over the same elements (as view and transpose nodes send them),
    # a strided slice starting at the same address, and a view taken after the gradient changed in place
    torch.manual_seed(0)
    batch = GradBatch()
    grad = torch.randn(64, 128)
    before = grad.clone()
    wide = torch.randn(128, 128)
    slots = [batch.add(grad), batch.add(grad.t()), batch.add(grad.view(8, 1024)), batch.add(wide[:64])]
    every_other = batch.add(wide[::2])  # same first address and size, other elements
    grad.mul_(3)
    changed = batch.add(grad.view(-1))
    # When the call is over
    values = batch.resolve()
    # Then each reads as torch reads that tensor, in its own shape, with the values it had when taken
    expected = [before, before.t(), before.view(8, 1024), wide[:64]]
    for slot, tensor in zip(slots, expected, strict=True):
        value = values[slot]
        assert value is not None and agrees_with_torch(value, tensor)
    assert values[every_other] is not None and agrees_with_torch(values[every_other], wide[::2])
    assert values[changed] is not None and agrees_with_torch(values[changed], grad.view(-1))
    assert values[changed].max == pytest.approx(3 * before.max().item())


def test_many_big_gradients_read_back_in_pieces_keep_their_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a batch that reads its reductions back every three tensors
    monkeypatch.setattr("gradviz.capture.bigreduce.HOLD_COUNT", 3)
    torch.manual_seed(0)
    batch = GradBatch()
    tensors = [torch.randn(5000) * (index + 1) for index in range(10)] + [torch.randn(6000).half()]
    # When they are all taken, then read
    slots = [batch.add(tensor) for tensor in tensors]
    values = batch.resolve()
    # Then every summary is torch's
    for slot, tensor in zip(slots, tensors, strict=True):
        value = values[slot]
        assert value is not None and agrees_with_torch(value, tensor)


def leaf_named(call: BackwardCall, label: str) -> Any:
    return next(node for node in call.graph.leaves if node.tensor is not None and node.tensor.label == label)


@pytest.mark.parametrize("size", [3, 5000])
def test_a_leaf_grad_after_reads_as_torch_when_stolen_added_into_or_changed_by_a_hook(size: int) -> None:
    # Given leaves whose .grad is None (the engine steals v), already held (the engine adds into it), and
    # None with a post-accumulate-grad hook that scales the stolen .grad in place
    torch.manual_seed(0)
    with Tracer(jacobians=False) as tracer:
        fresh = torch.randn(size, requires_grad=True)
        held = torch.randn(size, requires_grad=True)
        held.grad = torch.ones(size)
        hooked = torch.randn(size, requires_grad=True)

        def scale(leaf: torch.Tensor) -> None:
            assert leaf.grad is not None
            leaf.grad.mul_(10)

        hooked.register_post_accumulate_grad_hook(scale)
        (fresh * held * hooked).sum().backward()
    call = tracer.backwards[0]
    # Then each leaf's .grad after the call is torch's, and the v each AccumulateGrad received is its own
    with torch.no_grad():
        sent = {"fresh": hooked * held, "held": hooked * fresh, "hooked": fresh * held}
    for label, leaf in (("fresh", fresh), ("held", held), ("hooked", hooked)):
        node = leaf_named(call, label)
        assert leaf.grad is not None and node.tensor is not None and node.tensor.grad_after is not None
        assert agrees_with_torch(node.tensor.grad_after, leaf.grad)
        (step,) = [step for step in call.steps if step.node == node.id]
        received = step.grad_outputs[0]
        assert received is not None
        assert agrees_with_torch(received, sent[label])
