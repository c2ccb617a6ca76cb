"""Per-call capture, driven directly with torch's own engine: no patching of torch."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from gradviz.capture.callcapture import CallCapture
from gradviz.capture.door import Door, UserCall
from gradviz.capture.leaves import LeafLedger
from gradviz.model import Value


def engine_call(loss: torch.Tensor, *, retain_graph: bool = False) -> UserCall:
    """The call ``loss.backward()`` makes into torch's engine, as torch 2.x makes it."""
    return UserCall(
        torch.autograd._engine_run_backward,
        ((loss,), (torch.ones_like(loss),), retain_graph, False, ()),
        {"allow_unreachable": True, "accumulate_grad": True},
    )


def capture(door: Door | None = None) -> CallCapture:
    door = door or Door()
    return CallCapture(door, leaves=LeafLedger(), recorder=None)


def as_tensor(value: Value | None) -> torch.Tensor:
    assert value is not None and value.values is not None
    return torch.tensor(value.values)


def test_a_captured_call_records_what_the_engine_did() -> None:
    # Given
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (w.exp() * w).sum()
    capturing = capture()
    # When: the engine runs through CallCapture, not through a patched torch
    noted: list[Any] = []
    result = capturing.capture(1, engine_call(loss), None, None, lambda exc, where: noted.append(exc))
    # Then: the gradient is torch's, and the record holds it, with one step per node in run order
    assert result is None and noted == []
    assert torch.allclose(w.grad, (w.exp() * (w + 1)).detach())
    (call,) = capturing.backwards
    (leaf,) = call.graph.leaves
    assert leaf.tensor is not None and torch.allclose(as_tensor(leaf.tensor.grad_after), w.grad)
    assert call.graph.node(call.steps[0].node).name == "SumBackward0"
    assert len(call.steps) == len(call.graph.nodes)


def test_an_engine_error_is_noted_recorded_and_raised_as_torchs() -> None:
    # Given: a graph whose saved tensors were freed by a first call
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = (w.exp() * 2).sum()
    loss.backward()
    capturing = capture()
    noted: list[BaseException] = []
    # When
    with pytest.raises(RuntimeError, match="backward through the graph a second time") as raised:
        capturing.capture(2, engine_call(loss), None, None, lambda exc, where: noted.append(exc))
    # Then: the same exception was shown to the tracer, and the call is still in the record
    assert noted == [raised.value]
    assert [call.index for call in capturing.backwards] == [2]


def test_a_call_that_cannot_be_planned_runs_once_uncaptured_and_a_second_switches_capture_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: graph walks that fail
    def fail(*args: Any) -> None:
        raise ValueError("cannot walk")

    monkeypatch.setattr("gradviz.capture.callcapture.walk", fail)
    w = torch.tensor([2.0], requires_grad=True)
    door = Door()
    capturing = capture(door)
    # When: one call fails to be planned
    capturing.capture(1, engine_call((w * w).sum()), None, None, lambda exc, where: None)
    # Then: it ran exactly once (accumulated once), uncaptured, and capture stays on for the next call
    assert w.grad is not None and w.grad.item() == 4.0
    assert capturing.backwards == [] and capturing.part.is_open
    (problem,) = door.findings
    assert "backward call 1 could not be captured (cannot walk); it ran uncaptured" in problem.message
    # When: a second one fails too, gradviz is what is broken: capture switches off, still one line
    capturing.capture(2, engine_call((w * w).sum()), None, None, lambda exc, where: None)
    assert w.grad.item() == 8.0 and not capturing.part.is_open
    (problem,) = door.findings
    assert problem.count == 2 and "call 2 could not be captured" in problem.message
    assert "later calls are counted, not captured" in problem.message
