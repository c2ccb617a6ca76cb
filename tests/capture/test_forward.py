"""The forward recorder: one test per thing the timeline must show, checked against torch itself."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture.forward import TORCH_NO_GRAD, ForwardRecorder
from gradviz.capture.origin import origin_of
from gradviz.model import Event


@pytest.fixture
def rec() -> Iterator[ForwardRecorder]:
    recorder = ForwardRecorder()
    recorder.start()
    try:
        yield recorder
    finally:
        recorder.stop()


def line_of(marker: str) -> int:
    """The line number in this file of the (only) line containing `marker`."""
    with open(__file__, encoding="utf-8") as source:
        hits = [
            number for number, text in enumerate(source, start=1) if marker in text and "line_of(" not in text
        ]
    assert len(hits) == 1, hits
    return hits[0]


def only(events: tuple[Event, ...], kind: str, op: str | None = None) -> Event:
    found = [e for e in events if e.kind == kind and (op is None or e.op == op)]
    assert len(found) == 1, found
    return found[0]


def test_ops_are_recorded_with_the_users_line_ids_and_grad_fn(rec: ForwardRecorder) -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = a * a  # @mul-line
    rec.stop()

    mul = only(rec.events, "op", "Tensor.mul")
    assert mul.location is not None
    assert mul.location.file == __file__
    assert mul.location.line == line_of("# @mul-line")
    assert mul.location.code is not None and mul.location.code.startswith("b = a * a")
    assert mul.grad_mode == "enabled"
    assert mul.inputs == (rec.tensor_id(a), rec.tensor_id(a))
    assert mul.outputs == (rec.tensor_id(b),)
    assert mul.grad_fn == type(b.grad_fn).__name__ == "MulBackward0"


def test_new_grad_fn_gets_its_origin(rec: ForwardRecorder) -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = a.exp()  # @exp-line
    rec.stop()

    origin = origin_of(b.grad_fn)
    assert origin is not None
    assert rec.events[origin.event].op == "Tensor.exp"
    assert origin.location is not None and origin.location.line == line_of("# @exp-line")
    assert origin.tensor_id == rec.tensor_id(b)
    # ExpBackward0 saves its result: fingerprinted at creation for the .data-edit check
    assert [name for name, _ in origin.fingerprints] == ["result"]
    assert origin.fingerprints[0][1].tensor_id == rec.tensor_id(b)


def test_no_grad_enter_and_exit_and_the_ops_inside(rec: ForwardRecorder) -> None:
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.no_grad():  # @with-line
        d = a * 2
    rec.stop()

    switches = [e for e in rec.events if e.kind == "grad_mode"]
    assert [(e.op, e.detail, e.enabled) for e in switches] == [
        ("no_grad", "enter", False),
        ("no_grad", "exit", True),
    ]
    assert all(e.location is not None and e.location.line == line_of("# @with-line") for e in switches)
    inside = only(rec.events, "op", "Tensor.mul")
    assert inside.grad_mode == "no_grad"
    assert inside.grad_fn is None and d.grad_fn is None  # torch agrees: not recorded
    assert inside.detail is None  # the user switched grad off, not torch


def test_enable_grad_inside_no_grad_and_the_decorator(rec: ForwardRecorder) -> None:
    @torch.no_grad()
    def helper(x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            return x * 3

    a = torch.ones(2, requires_grad=True)
    out = helper(a)
    rec.stop()

    ops = [(e.op, e.detail) for e in rec.events if e.kind == "grad_mode"]
    assert ops == [
        ("no_grad", "enter"),
        ("enable_grad", "enter"),
        ("enable_grad", "exit"),
        ("no_grad", "exit"),
    ]
    assert only(rec.events, "op", "Tensor.mul").grad_mode == "enabled"
    assert out.grad_fn is not None


def test_inference_mode_is_seen_from_the_ops_inside(rec: ForwardRecorder) -> None:
    a = torch.ones(2, requires_grad=True)
    with torch.inference_mode():
        b = a + 1
    c = a + 2
    rec.stop()

    adds = [e for e in rec.events if e.op == "Tensor.add"]
    assert [e.grad_mode for e in adds] == ["inference_mode", "enabled"]
    assert [(e.op, e.enabled) for e in rec.events if e.kind == "grad_mode"] == [
        ("inference_mode", False),
        ("inference_mode", True),
    ]
    assert b.is_inference() and not c.is_inference()


def test_an_in_place_op_on_an_inference_tensor_is_recorded_and_the_timeline_goes_on(
    rec: ForwardRecorder,
) -> None:
    # Given: what a DataLoader iterator does when made inside inference_mode (its base seed) and what
    # an evaluation loop does with a running total: in-place ops on inference tensors, which have no
    # version counter
    with torch.inference_mode():
        seed = torch.empty((), dtype=torch.int64).random_(generator=torch.Generator().manual_seed(3))
        total = torch.zeros(2)
        total.add_(torch.ones(2))
    after = torch.ones(2, requires_grad=True) * 2
    rec.stop()

    # Then: both writes are on the timeline, the op after the block too, and no capture problem
    assert [e.op for e in rec.events if e.kind == "inplace"] == ["Tensor.random_", "Tensor.add_"]
    assert only(rec.events, "op", "Tensor.mul").grad_mode == "enabled"
    assert [f.message for f in rec.findings if f.kind == "capture_problem"] == []
    again = torch.empty((), dtype=torch.int64).random_(generator=torch.Generator().manual_seed(3))
    assert seed.item() == again.item()
    assert total.tolist() == [1.0, 1.0] and after.grad_fn is not None


def test_detach_and_detach_in_place(rec: ForwardRecorder) -> None:
    a = torch.ones(2, requires_grad=True)
    b = a * 2
    c = b.detach()
    b.detach_()
    rec.stop()

    detach, detach_ = (e for e in rec.events if e.kind == "detach")
    assert (
        detach.op == "Tensor.detach"
        and detach.inputs == (rec.tensor_id(b),)
        and detach.outputs == (rec.tensor_id(c),)
    )
    assert detach.grad_fn is None and not c.requires_grad
    assert detach_.op == "Tensor.detach_" and detach_.outputs == (rec.tensor_id(b),)


def test_in_place_ops_record_the_version_bump(rec: ForwardRecorder) -> None:
    s = torch.ones(3, requires_grad=True).sigmoid()
    s.mul_(2)
    s += 1
    s[0] = 5.0
    rec.stop()

    bumps = [(e.op, e.version_before, e.version_after) for e in rec.events if e.kind == "inplace"]
    assert bumps == [("Tensor.mul_", 0, 1), ("Tensor.add_", 1, 2), ("Tensor.__setitem__", 2, 3)]
    assert s._version == 3
    setitem = [e for e in rec.events if e.kind == "inplace"][-1]
    assert setitem.grad_fn == type(s.grad_fn).__name__ == "CopySlices"
    assert all(e.outputs == (rec.tensor_id(s),) for e in rec.events if e.kind == "inplace")


def test_functional_inplace_flag_counts_as_in_place(rec: ForwardRecorder) -> None:
    x = torch.randn(4)
    torch.nn.functional.relu(x, inplace=True)
    rec.stop()
    relu = only(rec.events, "inplace")
    assert relu.op == "F.relu" and (relu.version_before, relu.version_after) == (0, 1)


def test_data_edit_in_place_names_the_tensor_and_keeps_its_version(rec: ForwardRecorder) -> None:
    w = torch.tensor([2.0, 3.0], requires_grad=True)
    w.data *= 10  # @data-edit
    rec.stop()

    read = only(rec.events, "data_read")
    assert read.inputs == (rec.tensor_id(w),)
    write = only(rec.events, "data_write")
    assert write.outputs == (rec.tensor_id(w),)
    assert write.location is not None and write.location.line == line_of("# @data-edit")
    # the version counter of w did not move: that is why autograd cannot see the edit
    assert (write.version_before, write.version_after) == (0, 0) == (w._version, w._version)
    assert not [e for e in rec.events if e.kind == "inplace"]


def test_data_edit_through_a_view_of_the_alias(rec: ForwardRecorder) -> None:
    w = torch.zeros(3, requires_grad=True)
    w.data[1:].fill_(4.0)
    rec.stop()
    write = only(rec.events, "data_write")
    assert write.outputs == (rec.tensor_id(w),) and write.op == "Tensor.fill_"
    assert w.tolist() == [0.0, 4.0, 4.0]


def test_data_assignment(rec: ForwardRecorder) -> None:
    x = torch.ones(2, requires_grad=True)
    new = torch.zeros(2)
    x.data = new
    rec.stop()
    write = only(rec.events, "data_write", "Tensor.data")
    assert write.outputs == (rec.tensor_id(x),) and write.inputs == (rec.tensor_id(new),)


def test_requires_grad_and_retain_grad(rec: ForwardRecorder) -> None:
    x = torch.ones(2)
    x.requires_grad_()
    y = x * 2
    y.retain_grad()
    z = torch.ones(2, requires_grad=True)
    z.requires_grad = False
    rec.stop()

    flips = [(e.op, e.inputs, e.enabled) for e in rec.events if e.kind == "requires_grad"]
    assert flips == [
        ("Tensor.requires_grad_", (rec.tensor_id(x),), True),
        ("Tensor.requires_grad", (rec.tensor_id(z),), False),
    ]
    assert only(rec.events, "retain_grad").inputs == (rec.tensor_id(y),)


def test_non_leaf_grad_read_is_an_event_a_finding_and_torch_still_warns_at_the_users_line(
    rec: ForwardRecorder,
) -> None:
    a = torch.ones(2, requires_grad=True)
    s = a * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = s.grad  # @grad-read
    _ = a.grad  # a leaf: nothing to say
    rec.stop()

    assert value is None
    read = only(rec.events, "grad_read")
    assert read.inputs == (rec.tensor_id(s),)
    (finding,) = rec.findings
    assert finding.kind == "non_leaf_grad" and finding.label == "s"
    assert "s.retain_grad()" in finding.message and "not a leaf" in finding.message
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, line_of("# @grad-read"))]


def test_custom_function_forward_is_marked_as_torch_turning_grad_off(rec: ForwardRecorder) -> None:
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            return grad * 2

    a = torch.ones(2, requires_grad=True)
    out = Double.apply(a)
    total = out.sum()
    rec.stop()

    inner = only(rec.events, "op", "Tensor.mul")
    assert inner.grad_mode == "no_grad" and inner.detail == TORCH_NO_GRAD
    adopted = only(rec.events, "op", "Double.apply")
    assert adopted.outputs == (rec.tensor_id(out),)
    assert adopted.location is not None and adopted.location.code == "out = Double.apply(a)"
    origin = origin_of(out.grad_fn)
    assert origin is not None and origin.event == adopted.id
    assert [name for name, _ in origin.fingerprints] == ["saved_tensors[0]"]
    assert total.grad_fn is not None


def test_paused_and_not_recording_leave_nothing(rec: ForwardRecorder) -> None:
    a = torch.ones(2)
    with rec.paused():
        a + 1
    rec.recording = False
    b = a * 3
    rec.stop()
    assert [e.op for e in rec.events] == ["ones"]
    assert rec.tensor_id(b) is None


def test_budget_counts_dropped_events() -> None:
    recorder = ForwardRecorder(max_events=3)
    recorder.start()
    a = torch.ones(2)
    for _ in range(5):
        a = a + 1
    recorder.stop()
    assert len(recorder.events) == 3
    assert recorder.events_dropped == 3
    assert a.tolist() == [6.0, 6.0]


def test_backward_event_and_backward_itself_not_recorded_as_op(rec: ForwardRecorder) -> None:
    a = torch.ones(2, requires_grad=True)
    (a * 2).sum().backward()
    event_id = rec.add_backward_event("backward", None)
    rec.stop()
    assert [e.kind for e in rec.events] == ["op", "op", "op", "backward"]
    assert rec.events[event_id].kind == "backward"


def test_tensor_ids_do_not_keep_tensors_alive(rec: ForwardRecorder) -> None:
    import weakref

    big = torch.ones(1000) * 2
    ref = weakref.ref(big)
    big_id = rec.tensor_id(big)
    del big
    gc.collect()
    rec.stop()
    assert big_id is not None
    assert ref() is None


def test_nests_with_a_user_mode() -> None:
    seen: list[str] = []

    class UserMode(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            seen.append(getattr(func, "__name__", "?"))
            return func(*args, **(kwargs or {}))

    recorder = ForwardRecorder()
    recorder.start()
    with UserMode():
        x = torch.ones(2) + 1
    recorder.stop()
    assert "add" in seen and x.tolist() == [2.0, 2.0]
    assert [e.op for e in recorder.events] == ["ones", "Tensor.add"]


def test_locations_skip_torch_frames(rec: ForwardRecorder) -> None:
    layer = torch.nn.Linear(3, 2)  # @linear-init
    layer(torch.ones(1, 3))  # @linear-call
    rec.stop()
    lines = {e.location.line for e in rec.events if e.location is not None}
    assert lines == {line_of("# @linear-init"), line_of("# @linear-call")}
    assert only(rec.events, "op", "F.linear").grad_fn == "AddmmBackward0"
    assert all(e.location is None or "torch" not in e.location.file for e in rec.events)
    assert "torch" in sys.modules  # the module under test never swaps torch out


def training_run(recorder: ForwardRecorder | None) -> list[Any]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.randn(16, 4)
    target = torch.randn(16, 1)
    if recorder is not None:
        recorder.start()
    try:
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(data), target)
            loss.backward()
            with torch.no_grad():
                model[0].weight.data.mul_(0.99)
            opt.step()
            losses.append(loss.item())
    finally:
        if recorder is not None:
            recorder.stop()
    return [losses, [p.detach().clone() for p in model.parameters()]]


def test_results_are_identical_with_and_without_recording() -> None:
    plain_losses, plain_params = training_run(None)
    recorder = ForwardRecorder()
    traced_losses, traced_params = training_run(recorder)
    assert traced_losses == plain_losses
    assert all(torch.equal(a, b) for a, b in zip(plain_params, traced_params, strict=True))
    assert any(e.kind == "data_write" for e in recorder.events)


def test_no_grad_and_detach_of_tensors_that_require_grad_are_findings_once_per_line(
    rec: ForwardRecorder,
) -> None:
    a = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        d = a * 3
        plain = torch.ones(2) * 2  # nothing required grad: nothing to say
    for _ in range(3):
        e = a.detach()
    torch.ones(2).detach()
    rec.stop()

    assert [(f.kind, f.label) for f in rec.findings] == [("no_grad", "d"), ("detach", "e")]
    no_grad, detach = rec.findings
    assert "d = a * 3" in no_grad.message and "no grad_fn" in no_grad.message
    assert "e = a.detach()" in detach.message and "requires_grad=False" in detach.message
    assert not d.requires_grad and not e.requires_grad and not plain.requires_grad


def test_a_detach_inside_an_expression_is_named_by_the_expression(rec: ForwardRecorder) -> None:
    # the assigned variable is computed *from* the detached tensor, so it is not the one detached
    b = torch.ones(2, requires_grad=True)
    scaled = torch.cos(b.detach()) * 2
    rec.stop()

    (detach,) = rec.findings
    assert detach.label == "b.detach()"
    assert detach.message.startswith("`b.detach()` at ") and "scaled was detached" not in detach.message
    assert not scaled.requires_grad


def test_cuts_made_inside_torch_are_events_but_not_warnings(rec: ForwardRecorder) -> None:
    # hessian() detaches and runs under no_grad internally; the user wrote neither
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    torch.autograd.functional.hessian(lambda t: (t**3).sum(), w)
    with torch.no_grad():
        w.norm()  # a Python-level Tensor method, dispatched through torch: still the user's own op
    rec.stop()

    assert any(event.kind == "detach" for event in rec.events)
    (finding,) = rec.findings
    assert (finding.kind, finding.severity) == ("no_grad", "note")
    assert finding.location is not None and finding.location.code == "with torch.no_grad():"
    assert "1 op on tensors that require grad" in finding.message and "(`w.norm()" in finding.message


def test_a_recording_failure_never_breaks_the_users_op(
    rec: ForwardRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, tensor: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("gradviz.capture.tensor_ids.TensorIds.assign", broken)
    a = torch.ones(2, requires_grad=True)
    b = a * 2
    c = a * 3
    rec.stop()
    assert b.tolist() == [2.0, 2.0] and c.tolist() == [3.0, 3.0] and b.grad_fn is not None
    problems = [f for f in rec.findings if f.kind == "capture_problem"]
    assert len(problems) == 2  # once per op name: "ones" and "Tensor.mul"
    assert "Tensor.mul ran but could not be recorded (RuntimeError: boom)" in problems[1].message


def quirky_script() -> list[torch.Tensor]:
    """Every effect the timeline marks, in one script whose results must not change under tracing."""
    torch.manual_seed(1)
    w = torch.randn(3, 4, requires_grad=True)
    x = torch.randn(5, 3)
    h = (x @ w).tanh()
    h.retain_grad()
    with torch.no_grad():
        ghost = h * 2
    cut = h.detach()
    s = (h * cut).sigmoid()
    s = s * 1.5
    s.add_(1)
    loss = s.sum() + ghost.sum()
    w.data.mul_(0.5)
    loss.backward(retain_graph=True)
    first = w.grad.clone()
    loss.backward()
    with torch.inference_mode():
        later = w * 3
    return [loss.detach(), first, w.grad, h.grad, s.detach(), later.clone()]


def test_results_are_identical_with_and_without_the_tracer() -> None:
    from gradviz.capture.session import Tracer

    plain = quirky_script()
    with Tracer(max_backward=1) as tracer:
        traced = quirky_script()
    assert all(torch.equal(a, b) for a, b in zip(plain, traced, strict=True))
    kinds = {e.kind for e in tracer.events}
    assert {
        "op",
        "grad_mode",
        "detach",
        "inplace",
        "data_read",
        "data_write",
        "retain_grad",
        "backward",
    } <= kinds
    assert tracer.backward_calls == 2 and len(tracer.backwards) == 1
