"""In-place ops on tensors autograd does not track are recorded in one pass: same trace as the general way."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch
from torch import nn

from gradviz.capture.door import UserCall
from gradviz.capture.fastop import op_names
from gradviz.capture.session import Tracer
from gradviz.render.json import to_json


def training_steps() -> dict[str, Any]:
    """Two steps of a model with BatchNorm, with untracked writes of each kind, and torch's own values."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(3, 2, 6, 6)
    losses = torch.zeros(2)
    for step in range(2):
        loss = model(x).mean()  # BatchNorm in training: num_batches_tracked.add_(1)
        losses[step] = loss.detach()  # __setitem__ on an untracked tensor: torch returns None
        losses.mul_(0.5)
        loss.backward()
        bias_grad = model[0].bias.grad
        bias_grad.zero_()  # zeroing a .grad by hand: the ledger says so
        optimizer.step()
        if step == 0:
            model.zero_grad(set_to_none=False)  # zero_() on each .grad, from inside zero_grad()
        else:
            optimizer.zero_grad()
    mixed = torch.zeros(1)
    mixed.add_(model[4].bias)  # a value that requires grad goes in: the written tensor is tracked now
    mixed.sum().backward()
    return {
        "losses": losses.clone(),
        "version": model[1].num_batches_tracked._version,
        "mixed": mixed.grad_fn is not None,
        "grads": [p.grad.clone() for p in model.parameters() if p.grad is not None],
    }


def ordinary_ops_only(func: Any, raw_access: frozenset[str]) -> tuple[str, str]:
    """`op_names` with no in-place write taken in one pass: each goes the general way, through the door."""
    return op_names(func, raw_access)[0], ""


def traced(monkeypatch: pytest.MonkeyPatch | None) -> tuple[Tracer, dict[str, Any]]:
    if monkeypatch is not None:  # every in-place op goes the general way, through the door
        monkeypatch.setattr("gradviz.capture.forwardmode.op_names", ordinary_ops_only)
        monkeypatch.setattr("gradviz.capture.forwardmode.cached_names", lambda func: None)  # ask op_names
    with Tracer(max_backward=None) as tracer:
        values = training_steps()
    return tracer, values


def test_untracked_writes_in_one_pass_give_the_same_trace_as_the_general_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: the steps traced the usual way, noting which calls went the general way, through the door
    door_calls: list[str] = []

    class Noted(UserCall):
        def __init__(self, func: Any, args: Any, kwargs: dict[str, Any]) -> None:
            door_calls.append(getattr(func, "__name__", ""))
            super().__init__(func, args, kwargs)

    monkeypatch.setattr("gradviz.capture.forwardmode.UserCall", Noted)
    fast, fast_values = traced(None)
    fast_door = Counter(door_calls)

    # When: the same steps are traced with every in-place op sent the general way
    door_calls.clear()
    slow, slow_values = traced(monkeypatch)
    one_pass = Counter(door_calls) - fast_door  # the in-place ops the one pass took (no_grad ones: not)
    assert {"add_", "__setitem__", "mul_", "zero_"} <= set(one_pass)

    # Then: the same trace.json (events with versions, nodes, ledger, findings), torch's numbers alike
    assert to_json(fast.result()) == to_json(slow.result())

    def at(code: str) -> list[Any]:
        return [
            e for e in fast.events if e.kind == "inplace" and code in ((e.location and e.location.code) or "")
        ]

    counted = at("model(x)")  # BatchNorm's num_batches_tracked.add_(1), once a step, +1 to its version
    version = fast_values["version"]  # torch's _version of num_batches_tracked at the end
    assert [(e.op, e.grad_fn, e.version_before, e.version_after) for e in counted] == [
        ("Tensor.add_", None, version - 2, version - 1),
        ("Tensor.add_", None, version - 1, version),
    ]
    [mixed] = at("mixed.add_")
    assert mixed.grad_fn == "AddBackward0" and fast_values["mixed"]
    # the zeroing between calls 1 and 2 is on call 2's ledger (call 3's graph holds no model.0.bias)
    second = fast.result().backwards[1].ledger
    zeroings = [(e.leaf, e.how) for e in second if e.kind == "zeroed"]
    assert ("model.0.bias", "model.0.bias.grad.zero_()") in zeroings
    assert ("model.4.weight", "model.zero_grad()") in zeroings  # its owner, found on the stack
    assert torch.equal(fast_values["losses"], slow_values["losses"])
    assert all(torch.equal(a, b) for a, b in zip(fast_values["grads"], slow_values["grads"], strict=True))


def test_an_untracked_writes_own_error_reaches_the_user_unchanged() -> None:
    # Given: the error torch raises for an in-place op whose shapes do not broadcast, in a plain run
    counter, step = torch.zeros(2), torch.ones(3)
    with pytest.raises(RuntimeError) as plain:
        counter.add_(step)

    # When: the same op runs traced
    with Tracer() as tracer, pytest.raises(RuntimeError) as traced_error:
        counter.add_(step)

    # Then: the same message, the tensor untouched, and gradviz counts no problem of its own
    assert str(traced_error.value) == str(plain.value)
    assert counter.tolist() == [0.0, 0.0]
    assert [f for f in tracer.findings if f.kind == "capture_problem"] == []


def write_behind_a_saved_tensor(monkeypatch: pytest.MonkeyPatch | None) -> tuple[Tracer, torch.Tensor]:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    alias = x.data  # made before tracing: the timeline never saw it
    if monkeypatch is not None:
        monkeypatch.setattr("gradviz.capture.forwardmode.op_names", ordinary_ops_only)
        monkeypatch.setattr("gradviz.capture.forwardmode.cached_names", lambda func: None)  # ask op_names
    with Tracer(max_backward=None) as tracer:
        y = (w * x).sum()  # MulBackward0 saves x for w's gradient
        alias.add_(1)  # an untracked write to x's memory: x's version counter does not move
        y.backward()
    assert w.grad is not None
    return tracer, w.grad


def test_an_untracked_write_to_a_saved_tensors_memory_is_found_as_the_general_way_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: a write through an alias made before tracing, recorded in one pass
    fast, fast_grad = write_behind_a_saved_tensor(None)

    # When: the same is traced with in-place ops sent the general way
    slow, slow_grad = write_behind_a_saved_tensor(monkeypatch)

    # Then: the same trace, with the warning that backward used the edited x (torch's w.grad is x + 1)
    assert to_json(fast.result()) == to_json(slow.result())
    [edit] = [f for f in fast.findings if f.kind == "data_edit"]
    assert edit.severity == "warning" and "MulBackward0" in edit.message
    assert fast_grad.tolist() == slow_grad.tolist() == [4.0, 5.0]
