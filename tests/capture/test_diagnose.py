"""Autograd errors explained in terms of the trace; the user's error itself still propagates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gradviz.capture.diagnose import explain_autograd_error
from gradviz.capture.session import Tracer
from gradviz.model import Finding, Location


def explained(tracer: Tracer) -> Finding:
    (finding,) = [f for f in tracer.findings if f.kind == "autograd_error"]
    return finding


def test_inplace_error_names_the_tensor_the_op_its_line_and_the_node() -> None:
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), Tracer() as tracer:
        a = torch.tensor([0.5, 1.0, 2.0], requires_grad=True)
        s = a.sigmoid()
        s.mul_(2)
        s.sum().backward()

    finding = explained(tracer)
    assert finding.label == "s"
    assert finding.location is not None and finding.location.code == "s.mul_(2)"
    assert "Tensor.mul_" in finding.message
    assert "output 0 of SigmoidBackward0" in finding.message and "s = a.sigmoid()" in finding.message
    assert "_version from 0 to 1" in finding.message
    assert "s = s * 2" in finding.message  # what to do instead


def test_inplace_error_on_a_leaf_edited_under_no_grad() -> None:
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (w * w).sum()
        with torch.no_grad():
            w.add_(1)
        y.backward()
    finding = explained(tracer)
    assert finding.label == "w"
    assert finding.location is not None and finding.location.code == "w.add_(1)"
    assert "MulBackward0" in finding.message


def test_second_backward_names_the_earlier_call_that_freed_the_graph() -> None:
    with pytest.raises(RuntimeError, match="second time"), Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (x.exp() * x).sum()
        loss.backward()  # first
        loss.backward()  # second

    finding = explained(tracer)
    assert finding.location is not None and finding.location.code == "loss.backward()  # second"
    first = tracer.backwards[0].location
    assert first is not None and first.code == "loss.backward()  # first"
    assert f"backward call 1 at {first} (`loss.backward()`)" in finding.message
    assert "retain_graph=True" in finding.message


def test_non_scalar_backward_says_what_v_is() -> None:
    with pytest.raises(RuntimeError, match="only for scalar outputs"), Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.backward()

    finding = explained(tracer)
    assert finding.label == "y"
    assert "vector-Jacobian product" in finding.message
    assert "y.backward(gradient=torch.ones_like(y))" in finding.message
    assert "y.sum().backward()" in finding.message


def test_backward_on_a_tensor_outside_the_graph_points_at_no_grad() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"), Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        with torch.no_grad():  # @no-grad-here
            loss = (x * x).sum()
        loss.backward()
    finding = explained(tracer)
    assert "torch.no_grad()" in finding.message
    switch = next(e for e in tracer.events if e.kind == "grad_mode")
    assert switch.location is not None and switch.location.code == "with torch.no_grad():  # @no-grad-here"
    assert f"grad was switched off at {switch.location}" in finding.message


def test_in_place_on_a_leaf_that_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="leaf Variable"), Tracer() as tracer:
        w = torch.ones(2, requires_grad=True)
        w.add_(1)
    assert "torch.no_grad()" in explained(tracer).message


def test_other_errors_are_not_explained() -> None:
    assert explain_autograd_error(ValueError("x"), events=(), calls=(), location=None) is None
    assert explain_autograd_error(RuntimeError("shape mismatch"), events=(), calls=(), location=None) is None


def test_inplace_message_without_a_trace_still_explains() -> None:
    error = RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3]], which is output 0 of TanhBackward0, is at version 2; expected version 0 "
        "instead. Hint: ..."
    )
    where = Location(file="train.py", line=9, code="out.backward()")
    finding = explain_autograd_error(error, events=(), calls=(), location=where)
    assert finding is not None and finding.kind == "autograd_error" and finding.location == where
    assert "output 0 of TanhBackward0" in finding.message and "version 2" in finding.message


def test_example_08_exits_like_python_and_explains_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradviz.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "08_inplace_error.py"
    status = main(["trace", "--out", str(tmp_path), str(example)])
    captured = capsys.readouterr()
    assert status == 1
    assert "never printed" not in captured.out
    assert "RuntimeError: one of the variables needed for gradient computation" in captured.err
    assert "s, output 0 of SigmoidBackward0" in captured.err.replace("\n    ", " ")
    trace = (tmp_path / "trace.json").read_text()
    assert '"autograd_error"' in trace


def test_inplace_error_names_the_node_that_used_the_tensor() -> None:
    with pytest.raises(RuntimeError, match="output 0 of Add"), Tracer() as tracer:  # the in-place node
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        b = a * 3
        c = b * b  # saves b
        b.add_(1)
        c.sum().backward()
    finding = explained(tracer)
    assert finding.label == "b"
    assert "saved for backward by MulBackward0 at" in finding.message and "(`c = b * b`)" in finding.message
    assert "which saves its output" not in finding.message  # b = a * 3 needs only the constant 3


def test_non_scalar_backward_on_an_unnamed_output_gives_advice_that_is_valid_code() -> None:
    with pytest.raises(RuntimeError, match="only for scalar outputs"), Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x**2).backward()

    message = explained(tracer).message
    assert "called on the output (out below)" in message
    assert "out.sum().backward() or out.mean().backward()" in message
    assert "out.backward(gradient=torch.ones_like(out))" in message
    assert "the output.sum()" not in message


def test_inplace_error_blames_the_edit_of_the_saved_buffer_not_a_later_counter() -> None:
    # Given: MoCo's queue, used detached but not cloned by a graph op, then updated in place together
    # with its pointer (a counter that no graph op used) before backward
    torch.manual_seed(0)
    queue, pointer = torch.randn(4, 6), torch.zeros(1, dtype=torch.long)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), Tracer() as tracer:
        q = torch.randn(3, 4, requires_grad=True)
        logits = torch.einsum("nc,ck->nk", q, queue.detach())
        queue[:, :3] = torch.randn(3, 4).T
        pointer[0] = 3
        logits.sum().backward()

    # Then: the explanation points at the queue's update
    finding = explained(tracer)
    assert finding.location is not None and finding.location.code == "queue[:, :3] = torch.randn(3, 4).T"
    assert finding.label == "queue" and "pointer" not in finding.message
    assert "queue = queue.clone()" in finding.message
