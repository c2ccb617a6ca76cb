"""Backward/grad calls that raised are counted and recorded, with torch's own error and where it stopped."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, CallError, Value


def torch_error(action: Callable[[], object]) -> BaseException:
    """What plain torch raises for an action."""
    with pytest.raises(Exception) as raised:
        action()
    return raised.value


def traced_error(tracer: Tracer, action: Callable[[], object]) -> BaseException:
    with tracer, pytest.raises(Exception) as raised:
        action()
    return raised.value


def values(value: Value | None) -> object:
    return None if value is None else value.values


def leaf_grads(call: BackwardCall) -> dict[str, tuple[object, object]]:
    """Per named leaf: (grad_before, grad_after) values."""
    return {
        node.tensor.label: (values(node.tensor.grad_before), values(node.tensor.grad_after))
        for node in call.graph.leaves
        if node.tensor is not None and node.tensor.label is not None
    }


def running_node_in_plain_torch(root: torch.Tensor, action: Callable[[], object]) -> str:
    """Torch itself: the node whose pre-hook fired and whose post-hook did not when the call raised."""
    started: list[Any] = []
    finished: list[Any] = []
    stack, seen = [root.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        fn.register_prehook(lambda grads, fn=fn: started.append(fn))
        fn.register_hook(lambda grads_in, grads_out, fn=fn: finished.append(fn))
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    with pytest.raises(RuntimeError):
        action()
    (stopped,) = [fn for fn in started if not any(fn is done for done in finished)]
    return type(stopped).__name__


def test_non_scalar_backward_fails_before_the_engine_and_is_recorded() -> None:
    # Given: torch's error for backward() on a non-scalar, and a leaf that already holds a gradient
    x = torch.ones(3, requires_grad=True)
    expected = torch_error(lambda: (x * 3).backward())
    x.grad = torch.full((3,), 5.0)

    # When: the same call is made traced
    tracer = Tracer()
    raised = traced_error(tracer, lambda: (x * 3).backward())

    # Then: torch's own error reached the user, and the call is counted and recorded with it
    assert (type(raised), str(raised)) == (type(expected), str(expected))
    assert tracer.backward_calls == 1
    (call,) = tracer.backwards
    assert call.error == CallError(type="RuntimeError", message=str(expected), node=None)
    assert [node.name for node in call.nodes] == ["MulBackward0", "AccumulateGrad"]
    assert leaf_grads(call) == {"x": ((5.0, 5.0, 5.0), (5.0, 5.0, 5.0))}
    assert call.steps == ()


def test_a_call_through_torch_autograd_backward_is_counted_once() -> None:
    # Given: a non-scalar output, handed to torch.autograd.backward directly (torch passes it to the
    # function mode, which calls the wrapped function again)
    x = torch.ones(2, requires_grad=True)

    # When: it fails traced, after a call that worked
    tracer = Tracer()
    with tracer:
        (x * 2).sum().backward()
        with pytest.raises(RuntimeError):
            torch.autograd.backward(x * 4)

    # Then: two calls, the second one failed
    assert tracer.backward_calls == 2
    assert [call.error is not None for call in tracer.backwards] == [False, True]


def in_place_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a reaches the loss through a branch that works, b through a sigmoid whose output was modified."""
    s = b.sigmoid()
    loss = (a * 2).sum() + s.sum()
    s.mul_(2)
    return loss


def test_in_place_error_names_the_node_torch_stopped_at_and_the_leaves_tell_the_truth() -> None:
    # Given: what plain torch raises, where it stops and what the leaves hold afterwards
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    loss = in_place_error(a, b)
    expected = torch_error(loss.backward)
    plain_grads = {"a": values_of(a.grad), "b": values_of(b.grad)}
    loss = in_place_error(torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True))
    stopped = running_node_in_plain_torch(loss, loss.backward)

    # When: the same call is traced
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    tracer = Tracer()
    with tracer:
        loss = in_place_error(a, b)
    raised = traced_error(tracer, lambda: loss.backward())

    # Then: torch's error, recorded with the node torch was running, and each leaf's real .grad
    assert (type(raised), str(raised)) == (type(expected), str(expected))
    (call,) = tracer.backwards
    assert call.error is not None and (call.error.type, call.error.message) == ("RuntimeError", str(expected))
    assert call.error.node is not None and call.nodes[call.error.node].name == stopped == "SigmoidBackward0"
    assert {label: after for label, (_, after) in leaf_grads(call).items()} == plain_grads
    assert leaf_grads(call)["b"] == (None, None)


def values_of(tensor: torch.Tensor | None) -> object:
    return None if tensor is None else tuple(tensor.tolist())


def test_second_backward_through_a_freed_graph_names_the_node_that_needed_its_saved_tensors() -> None:
    # Given: the node plain torch stops at on a second backward through the same graph
    w = torch.tensor([0.5, 1.5], requires_grad=True)
    y = (w * w).exp().sum()
    y.backward()
    expected = torch_error(y.backward)
    stopped = running_node_in_plain_torch(y, y.backward)

    # When: the same two calls are traced
    w = torch.tensor([0.5, 1.5], requires_grad=True)
    tracer = Tracer()
    with tracer:
        y = (w * w).exp().sum()
        y.backward()
    raised = traced_error(tracer, y.backward)

    # Then: the second call is recorded with torch's message and that node
    assert str(raised) == str(expected)
    first, second = tracer.backwards
    assert first.error is None and second.error is not None
    assert second.error.message == str(expected)
    assert second.error.node is not None and second.nodes[second.error.node].name == stopped


def test_grad_failing_inside_the_engine_has_no_node() -> None:
    # Given: torch.autograd.grad asked for a tensor the output does not depend on
    x, unused = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    expected = torch_error(lambda: torch.autograd.grad((x * 2).sum(), [x, unused]))

    # When: traced
    tracer = Tracer()
    raised = traced_error(tracer, lambda: torch.autograd.grad((x * 2).sum(), [x, unused]))

    # Then: counted once, recorded as a failed grad call that stopped at no node
    assert str(raised) == str(expected)
    (call,) = tracer.backwards
    assert call.api == "grad"
    assert call.error == CallError(type=type(expected).__name__, message=str(expected), node=None)
    assert tracer.backward_calls == 1


def test_failed_calls_beyond_the_budget_are_counted() -> None:
    x = torch.ones(3, requires_grad=True)
    tracer = Tracer(max_backward=1)
    with tracer:
        (x * 2).sum().backward()
        for _ in range(2):
            with pytest.raises(RuntimeError):
                (x * 3).backward()

    assert tracer.backward_calls == 3
    assert len(tracer.backwards) == 1 and tracer.backwards[0].error is None


def test_torchs_functions_are_back_after_tracing() -> None:
    backward, grad = torch.autograd.backward, torch.autograd.grad
    with Tracer():
        assert torch.autograd.backward is not backward
    assert (torch.autograd.backward, torch.autograd.grad) == (backward, grad)


def test_uncaught_failure_before_the_engine_prints_pythons_traceback(tmp_path: Path) -> None:
    # Given: a script whose backward on a non-scalar is not caught
    script = tmp_path / "nonscalar.py"
    script.write_text("import torch\nx = torch.ones(3, requires_grad=True)\n(x * 3).backward()\n")
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)

    # When: traced
    traced = subprocess.run(
        [sys.executable, "-m", "gradviz", "trace", "--quiet", "--out", str(tmp_path / "out"), str(script)],
        capture_output=True,
        text=True,
        check=False,
    )

    # Then: the same status and the same traceback, frame by frame
    assert traced.returncode == plain.returncode == 1
    assert traceback_of(traced.stderr) == traceback_of(plain.stderr)


def traceback_of(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    start = lines.index("Traceback (most recent call last):")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    return lines[start : end + 1]


def test_a_fault_while_recording_a_failed_call_leaves_the_users_error_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: gradviz breaks while recording a call that failed before the engine
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("injected")

    monkeypatch.setattr("gradviz.capture.callcapture.CallCapture.plan", broken)
    x = torch.ones(3, requires_grad=True)
    expected = torch_error(lambda: (x * 3).backward())

    # When: such a call is made traced
    tracer = Tracer()
    raised = traced_error(tracer, lambda: (x * 3).backward())

    # Then: the user's own error, with no gradviz exception chained to it; the call still counted
    assert (type(raised), str(raised)) == (type(expected), str(expected))
    assert raised.__context__ is None and raised.__cause__ is None
    assert tracer.backward_calls == 1
    assert [finding.kind for finding in tracer.findings].count("capture_problem") == 1
    assert tracer.backwards == ()


@pytest.mark.parametrize("grad_api", [False, True])
def test_a_freed_graph_with_branches_names_the_ready_node_torch_stopped_at(grad_api: bool) -> None:
    # Given: a graph whose branches are all ready once the sum ran, each needing freed saved tensors,
    # run a second time (through backward, or through grad asking for one leaf only)
    def build() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = torch.tensor([0.5, 1.5], requires_grad=True)
        v = torch.tensor([2.0, 3.0], requires_grad=True)
        return w, v, ((w * w).exp() + (v * 3).sin() + (w * v).cos()).sum()

    def again(y: torch.Tensor, w: torch.Tensor) -> object:
        return torch.autograd.grad(y, [w]) if grad_api else y.backward()

    w, _, y = build()
    y.backward(retain_graph=False)
    expected = torch_error(lambda: again(y, w))
    stopped = running_node_in_plain_torch(y, lambda: again(y, w))

    # When: the same two calls are traced without local Jacobians (as in a big graph: no pre-hooks then)
    tracer = Tracer(jacobians=False)
    with tracer:
        w, _, y = build()
        y.backward()
    raised = traced_error(tracer, lambda: again(y, w))

    # Then: the second call is recorded with torch's message and the node torch was running
    assert str(raised) == str(expected)
    second = tracer.backwards[1]
    assert second.error is not None and second.error.node is not None
    assert second.nodes[second.error.node].name == stopped
