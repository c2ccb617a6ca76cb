"""Silent .data edits of saved tensors: detected by comparing forward-time fingerprints in backward."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from gradviz.capture.dataedit import SavedTensorCheck
from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.saved import EXACT_NUMEL, fingerprint, has_changed
from gradviz.capture.session import Tracer
from gradviz.model import Finding


def data_edits(tracer: Tracer) -> list[Finding]:
    return [f for f in tracer.findings if f.kind == "data_edit"]


def test_in_place_data_edit_of_a_saved_leaf_is_reported_and_torch_used_the_new_value() -> None:
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        y = (w * w).sum()
        w.data *= 10
        y.backward()

    # torch itself: the gradient 2*w was computed from the edited w, not from [2, 3]
    assert w.grad is not None and w.grad.tolist() == [40.0, 60.0]
    (finding,) = data_edits(tracer)
    assert finding.label == "w" and finding.call == 1
    assert finding.location is not None and finding.location.code == "w.data *= 10"
    assert "MulBackward0" in finding.message
    assert "used the new value" in finding.message
    assert f"line {finding.location.line - 1}" in finding.message  # the line of y = (w * w).sum()


def test_data_assignment_of_a_saved_leaf_is_reported() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        x.data = torch.tensor([5.0, 5.0])
        y.backward()

    assert x.grad is not None and x.grad.tolist() == [10.0, 10.0]
    (finding,) = data_edits(tracer)
    assert finding.location is not None and finding.location.code == "x.data = torch.tensor([5.0, 5.0])"
    assert finding.label == "x"


def test_data_edit_of_a_saved_non_leaf_is_reported() -> None:
    with Tracer() as tracer:
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        b = a * 3
        c = (b * b).sum()
        b.data += 1
        c.backward()

    # d c / d a = 2 * b * 3 with the edited b = [4, 7]
    assert a.grad is not None and a.grad.tolist() == [24.0, 42.0]
    (finding,) = data_edits(tracer)
    assert finding.label == "b" and "MulBackward0" in finding.message


def test_an_edit_before_the_op_that_saves_the_tensor_is_not_reported() -> None:
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        w.data *= 10
        print_me = w.data.sum()  # a read, no write
        y = (w * w).sum()
        y.backward()
    assert float(print_me) == 50.0
    assert data_edits(tracer) == []


def test_a_large_tensor_edited_in_one_element_is_caught_by_the_sum() -> None:
    with Tracer() as tracer:
        w = torch.ones(EXACT_NUMEL * 3, requires_grad=True)
        y = (w * w).sum()
        w.data[7] += 0.5
        y.backward()
    (finding,) = data_edits(tracer)
    assert finding.label == "w"


def test_a_linear_layers_transposed_weight_is_checked_in_memory_order() -> None:
    # Given a linear layer, which saves its weight as the (non-contiguous) view weight.t()
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 48)
    inputs = torch.randn(4, 64, requires_grad=True)  # so that backward reads the weight
    with Tracer() as untouched:
        layer(inputs).sum().backward()
    with Tracer() as tracer:
        loss = layer(inputs).pow(2).sum()
        # When two whole rows trade places through .data: the sum is unchanged, the strided sample is not
        layer.weight.data[[0, 47]] = layer.weight.data[[47, 0]]
        loss.backward()
    # Then the edit is reported, and the unedited run reports nothing
    assert data_edits(untouched) == []
    (finding,) = data_edits(tracer)
    assert "AddmmBackward0" in finding.message and "weight" in (finding.label or "")


def test_large_views_with_nan_or_gaps_are_unchanged_until_written() -> None:
    base = torch.randn(80, 60)
    base[3, 5] = float("nan")
    for view in (base.t(), base[:, ::2], base.permute(1, 0)[::3]):
        taken = fingerprint(view, None)
        assert taken is not None and not taken.exact
        assert not has_changed(taken, view)
    base = torch.randn(80, 60)
    transposed = base.t()
    taken = fingerprint(transposed, None)
    assert taken is not None
    base[79, 59] += 1.0
    assert has_changed(taken, transposed)


def test_custom_function_saved_tensors_are_checked() -> None:
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors
            return 2 * x * grad

    with Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        y = Square.apply(w).sum()
        w.data.mul_(3)
        y.backward()
    assert w.grad is not None and w.grad.tolist() == [6.0, 12.0]
    (finding,) = data_edits(tracer)
    assert "SquareBackward" in finding.message and finding.label == "w"


def test_a_tracked_in_place_edit_is_left_to_autograds_own_error() -> None:
    with pytest.raises(RuntimeError, match="modified by an inplace operation"), Tracer() as tracer:
        s = torch.ones(3, requires_grad=True).sigmoid()
        loss = (s * 2).sum() + s.sum()
        s.mul_(2)
        loss.backward()
    assert data_edits(tracer) == []


def test_check_never_raises_and_needs_an_origin() -> None:
    check = SavedTensorCheck(None)
    x = torch.ones(2, requires_grad=True)
    y = x * x  # made without a recorder: no fingerprints to compare
    assert check.check(y.grad_fn, node_name="MulBackward0", location=None, call_index=1) == []
    assert check.check(object(), node_name="?", location=None, call_index=1) == []


def test_each_tensor_is_reported_once_per_editing_line() -> None:
    recorder = ForwardRecorder()
    recorder.start()
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y1 = w * w
    y2 = w.exp() * w
    w.data.add_(1)
    recorder.stop()
    check = SavedTensorCheck(recorder)
    first = check.check(y1.grad_fn, node_name="MulBackward0", location=None, call_index=1)
    again = check.check(y2.grad_fn, node_name="MulBackward0", location=None, call_index=1)
    assert len(first) == 1 and again == []
    # the same edit seen again in a later call (a loop repeating it) is the same bug
    assert check.check(y2.grad_fn, node_name="MulBackward0", location=None, call_index=2) == []


def test_fingerprints_see_nan_as_unchanged_and_shape_changes_as_changed() -> None:
    t = torch.tensor([float("nan"), 1.0])
    taken = fingerprint(t, None)
    assert taken is not None
    assert not has_changed(taken, t)
    assert has_changed(taken, torch.tensor([float("nan"), 2.0]))
    assert has_changed(taken, torch.tensor([1.0]))


def test_example_03_warns_on_stderr_and_in_trace_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradviz.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "03_data_edit.py"
    assert main(["trace", "--out", str(tmp_path), str(example)]) == 0
    captured = capsys.readouterr()
    assert "w.grad: [40.0, 60.0]" in captured.out
    err = " ".join(captured.err.split())
    assert "w was changed through .data at 03_data_edit.py:14 (`w.data *= 10`)" in err
    trace = json.loads((tmp_path / "trace.json").read_text())
    (finding,) = [f for f in trace["findings"] if f["kind"] == "data_edit"]
    assert finding["location"]["line"] == 14 and finding["label"] == "w"
    (overlay,) = trace["backwards"][0]["overlays"]
    assert overlay["kind"] == "data_edit" and overlay["text"] == ".data edit at line 14: _version stays 0"


def test_an_edit_through_a_data_alias_taken_before_tracing_is_still_reported() -> None:
    # Given an alias of w's memory taken before tracing starts: the timeline never saw the .data read
    w = torch.tensor([2.0, 3.0], requires_grad=True)
    alias = w.data
    with Tracer() as tracer:
        y = (w * w).sum()
        # When the alias is edited in place: autograd's version counter of w does not move
        alias.mul_(10)
        y.backward()

    # Then torch used the edited values, and gradviz says so
    assert w.grad is not None and w.grad.tolist() == [40.0, 60.0]
    assert [finding.label for finding in data_edits(tracer)] == ["w"]


def test_an_edit_inside_a_backward_hook_is_reported() -> None:
    # Given a hook that edits w through .data while backward runs, before w's MulBackward0 runs
    w = torch.tensor([2.0, 3.0], requires_grad=True)

    def edit(grad: torch.Tensor) -> None:
        w.data.mul_(10)

    with Tracer() as tracer:
        h = w * w
        h.register_hook(edit)
        y = (h * 1.0).sum()
        y.backward()

    # Then the gradient came from the edited w, and the edit is reported
    assert w.grad is not None and w.grad.tolist() == [40.0, 60.0]
    assert [finding.label for finding in data_edits(tracer)] == ["w"]


def test_nodes_made_after_the_last_edit_are_not_compared_and_earlier_ones_are() -> None:
    recorder = ForwardRecorder()
    recorder.start()
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    before = w * w
    w.data.add_(1)
    after = w * w
    recorder.stop()
    check = SavedTensorCheck(recorder)
    assert len(check.check(before.grad_fn, node_name="MulBackward0", location=None, call_index=1)) == 1
    assert check.check(after.grad_fn, node_name="MulBackward0", location=None, call_index=1) == []
