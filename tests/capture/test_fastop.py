"""The usual op (plain tensors in and out, grad on) is recorded in one pass: same timeline, same graph."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from gradviz.capture import fastop
from gradviz.capture.lazyprints import LazyPrints
from gradviz.capture.session import Tracer


def forward_and_backward() -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A small model whose ops are mostly the usual kind, plus a factory op and a list argument."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(3, 4)
    h = model(x)
    joined = torch.cat([h, h * 2], dim=1)
    loss = joined.relu().mean()
    loss.backward()
    return loss.detach(), [parameter.grad.clone() for parameter in model.parameters()]  # type: ignore[union-attr]


def writes_only(func: Any, raw_access: frozenset[str]) -> tuple[str, str]:
    """`fastop.op_names` with no ordinary op taken in one pass: each goes the general way (the door)."""
    return "", fastop.op_names(func, raw_access)[1]


def traced(monkeypatch: pytest.MonkeyPatch | None) -> tuple[Tracer, torch.Tensor, list[torch.Tensor]]:
    if monkeypatch is not None:  # every op goes the general way, through the door
        monkeypatch.setattr("gradviz.capture.forwardmode.op_names", writes_only)
        monkeypatch.setattr("gradviz.capture.forwardmode.cached_names", lambda func: None)  # ask op_names
    with Tracer(max_backward=None) as tracer:
        loss, grads = forward_and_backward()
    return tracer, loss, grads


def test_the_one_pass_records_the_same_timeline_and_graph_as_the_general_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a traced forward and backward, recorded the usual way (most ops in one pass)
    note_new = LazyPrints.note_new
    passes: list[int] = []

    def counted(self: Any, grad_fn: Any, event: int, *args: Any) -> None:
        passes.append(event)  # called only by the one pass, once the op's line is read
        note_new(self, grad_fn, event, *args)

    monkeypatch.setattr(LazyPrints, "note_new", counted)
    fast, fast_loss, fast_grads = traced(None)
    assert {"F.linear", "F.relu", "Tensor.mul"} <= {fast.events[event].op for event in passes}

    # When: the same script is traced with every op sent the general way
    slow, slow_loss, slow_grads = traced(monkeypatch)

    # Then: the same events (ops, lines, tensor ids, grad_fns), the same nodes with the same origins
    def events(tracer: Tracer) -> list[tuple[Any, ...]]:
        return [
            (e.kind, e.op, e.location, e.grad_mode, e.inputs, e.outputs, e.grad_fn) for e in tracer.events
        ]

    assert events(fast) == events(slow)
    assert {"F.linear", "F.relu", "cat", "Tensor.mean"} <= {e.op for e in fast.events}
    (fast_call,), (slow_call,) = fast.backwards, slow.backwards
    assert [(n.name, n.location, n.event, n.module) for n in fast_call.graph.nodes] == [
        (n.name, n.location, n.event, n.module) for n in slow_call.graph.nodes
    ]
    outputs = {"AddmmBackward0", "ReluBackward0", "CatBackward0", "MeanBackward0"}
    assert all(n.location is not None for n in fast_call.graph.nodes if n.name in outputs)
    assert torch.equal(fast_loss, slow_loss)
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, slow_grads, strict=True))


def attention_and_pieces() -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Ops with several outputs (attention, chunk, max with dim), a plain value out (dim), slices in."""
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(9, 3, batch_first=True)
    x = torch.randn(2, 5, 9, requires_grad=True)
    out, _ = attention(x, x, x, need_weights=False)
    first, second = out[..., 1:].chunk(2, dim=-1)  # indexing: slices and an Ellipsis
    biggest, _ = torch.max(first * second, dim=1)
    loss = biggest.sum() / out.dim()
    loss.backward()
    return loss.detach(), [x.grad.clone()] + [p.grad.clone() for p in attention.parameters()]  # type: ignore[union-attr]


def test_ops_with_several_outputs_or_a_plain_value_record_the_same_as_the_general_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: attention, chunk, max(dim) and dim() traced the usual way (several outputs in one pass)
    shape_of = fastop._shape_of
    shapes: list[str] = []

    def counted(result: Any) -> str:
        shapes.append(shape_of(result))  # read before the op's line: the line stays the user's
        return shapes[-1]

    plain_args = fastop._plain_args
    sliced: list[bool] = []

    def judged(values: Any) -> bool:
        verdict = plain_args(values)
        if any(type(value) is tuple and any(item is Ellipsis for item in value) for value in values):
            sliced.append(verdict)
        return verdict

    monkeypatch.setattr(fastop, "_shape_of", counted)
    monkeypatch.setattr(fastop, "_plain_args", judged)
    with Tracer(max_backward=None) as fast:
        fast_loss, fast_grads = attention_and_pieces()
    assert sliced == [True]  # out[..., 1:] went the one-pass way
    assert shapes.count(fastop._SEVERAL) >= 3  # attention's (out, None), chunk, max(dim=...)
    assert fastop._NONE in shapes  # dim()

    # When: the same code is traced with every op sent the general way
    monkeypatch.setattr(fastop, "_plain_args", plain_args)
    monkeypatch.setattr("gradviz.capture.forwardmode.op_names", writes_only)
    monkeypatch.setattr("gradviz.capture.forwardmode.cached_names", lambda func: None)  # ask op_names
    with Tracer(max_backward=None) as slow:
        slow_loss, slow_grads = attention_and_pieces()

    # Then: the same events and the same nodes, origins and modules; the numbers are torch's
    def events(tracer: Tracer) -> list[tuple[Any, ...]]:
        return [
            (e.kind, e.op, e.location, e.grad_mode, e.inputs, e.outputs, e.grad_fn) for e in tracer.events
        ]

    assert events(fast) == events(slow)
    several = [e for e in fast.events if len(e.outputs) > 1]
    assert {"Tensor.chunk", "max"} <= {e.op for e in several}
    assert {"F.multi_head_attention_forward", "Tensor.__getitem__"} <= {e.op for e in fast.events}
    (fast_call,), (slow_call,) = fast.backwards, slow.backwards
    assert [(n.name, n.location, n.event, n.module) for n in fast_call.graph.nodes] == [
        (n.name, n.location, n.event, n.module) for n in slow_call.graph.nodes
    ]
    assert torch.equal(fast_loss, slow_loss)
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, slow_grads, strict=True))


class Logged(torch.Tensor):
    """A user's tensor subclass that logs every torch call made on it; its ops return plain tensors."""

    calls: ClassVar[list[str]] = []

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        cls.calls.append(getattr(func, "__name__", str(func)))
        with torch._C.DisableTorchFunctionSubclass():  # results come out as plain tensors
            return func(*args, **(kwargs or {}))


def subclass_step() -> list[str]:
    Logged.calls = []
    w = torch.ones(3, requires_grad=True)
    x = torch.arange(3.0).as_subclass(Logged)
    (x * w).relu().sum().backward()
    return list(Logged.calls)


def test_a_users_tensor_subclass_sees_the_same_calls_as_without_gradviz() -> None:
    # Given: the calls a subclass's __torch_function__ sees in a plain run
    plain = subclass_step()

    # When: the same step runs traced
    with Tracer(max_backward=None):
        traced_calls = subclass_step()

    # Then: gradviz's reading of each op (grad_fn, ids, addresses) never reaches the subclass
    assert traced_calls == plain


def test_an_ops_own_error_reaches_the_user_unchanged() -> None:
    # Given: the error torch raises for a shape mismatch in a plain run
    a, b = torch.ones(2, 3, requires_grad=True), torch.ones(2, 3)
    with pytest.raises(RuntimeError) as plain:
        torch.mm(a, b)

    # When: the same op runs traced
    with Tracer() as tracer, pytest.raises(RuntimeError) as traced_error:
        torch.mm(a, b)

    # Then: the same message, and gradviz counts no problem of its own
    assert str(traced_error.value) == str(plain.value)
    assert [f for f in tracer.findings if f.kind == "capture_problem"] == []
