"""Device and dtype moves: the ``.to(device)`` non-leaf pitfall and ``model.to()``, checked against torch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import gradviz
from gradviz.capture.script import run_script
from gradviz.capture.session import Tracer
from gradviz.model import Finding


def moved(findings: tuple[Finding, ...]) -> list[Finding]:
    return [finding for finding in findings if finding.kind == "moved_leaf"]


def suggested_line(finding: Finding) -> str:
    """The rewritten line the finding suggests, between the first pair of backticks."""
    found = re.search(r"`([^`]+)`", finding.message)
    assert found is not None, finding.message
    return found.group(1)


def test_a_moved_copy_whose_grad_is_never_read_is_a_note_naming_it_at_its_line() -> None:
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).double()  # @made
        (w * 2).sum().backward()

    # PyTorch: w is the copy, and the unnamed leaf behind it got the gradient.
    leaf = w.grad_fn.next_functions[0][0].variable
    assert not w.is_leaf and type(w.grad_fn).__name__ == "ToCopyBackward0"
    assert leaf.grad is not None and leaf.grad.tolist() == [2.0, 2.0, 2.0]
    (finding,) = moved(t.findings)
    assert finding.severity == "note" and finding.label == "w"
    assert finding.location is not None and finding.location.code is not None
    assert "# @made" in finding.location.code
    assert "w.grad stays None" in finding.message and ".double()" in finding.message
    # The graph drew that leaf, with the gradient torch gave it.
    (node,) = t.backwards[0].graph.leaves
    assert node.tensor is not None and node.tensor.grad_after is not None
    assert node.tensor.grad_after.values == tuple(leaf.grad.tolist())


def test_reading_the_copys_grad_makes_it_a_warning_instead_of_the_retain_grad_advice() -> None:
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).double()
        (w * 2).sum().backward()
        with pytest.warns(UserWarning, match="not a leaf"):
            seen = w.grad  # @read

    assert seen is None
    (finding,) = moved(t.findings)
    assert finding.severity == "warning"
    assert re.search(r"read at \S+:\d+", finding.message)
    # The generic finding would advise retain_grad(): not the fix here, so it is gone.
    assert not [f for f in t.findings if f.kind == "non_leaf_grad"]


def test_the_suggested_line_makes_a_leaf_that_gets_the_gradient_in_torch() -> None:
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).double()
        (w * 2).sum().backward()
        with pytest.warns(UserWarning, match="not a leaf"):
            _ = w.grad

    (finding,) = moved(t.findings)
    line = suggested_line(finding)
    assert line == "w = torch.randn(3).double().requires_grad_()"
    # When the user's line is replaced by the suggestion, torch makes w a float64 leaf with a .grad.
    scope: dict[str, object] = {"torch": torch}
    exec(line, scope)
    fixed = scope["w"]
    assert isinstance(fixed, torch.Tensor)
    (fixed * 2).sum().backward()
    assert fixed.is_leaf and fixed.dtype == torch.float64
    assert fixed.grad is not None and fixed.grad.tolist() == [2.0, 2.0, 2.0]


def test_an_optimizer_refusing_the_copy_makes_it_a_warning() -> None:
    with pytest.raises(ValueError, match="non-leaf"), gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).to(torch.float64)
        torch.optim.SGD([w], lr=0.1)

    (finding,) = moved(t.findings)
    assert finding.severity == "warning" and finding.label == "w"
    assert "optimizer refused w" in finding.message
    assert "dtype=torch.float64" in finding.message


def test_a_move_to_another_device_is_the_same_pitfall() -> None:
    # The meta device stands in for cuda: a real device move without a GPU.
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).to("meta")
        y = (w * 2).sum()

    assert y.device.type == "meta" and not w.is_leaf
    (finding,) = moved(t.findings)
    assert finding.label == "w" and ".to()" in finding.message
    assert suggested_line(finding) == 'w = torch.randn(3).to("meta").requires_grad_()'


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.randn(3).double().requires_grad_(),
        lambda: torch.randn(3, dtype=torch.float64, requires_grad=True),
    ],
    ids=["requires_grad_-after-the-move", "made-in-place"],
)
def test_the_right_ways_are_leaves_and_say_nothing(make: object) -> None:
    assert callable(make)
    with gradviz.trace() as t:
        w = make()
        (w * 2).sum().backward()

    assert w.is_leaf and w.grad is not None
    assert moved(t.findings) == []


def test_a_move_of_a_named_leaf_is_no_pitfall() -> None:
    with gradviz.trace() as t:
        w0 = torch.randn(3, requires_grad=True)
        w = w0.double()
        (w * 2).sum().backward()

    # w0 is reachable: its .grad is there to read.
    assert w0.grad is not None
    assert moved(t.findings) == []


def test_model_to_is_not_a_data_swap_and_its_parameters_stay_leaves() -> None:
    with gradviz.trace() as t:
        model = nn.Linear(3, 2)
        weight = model.weight
        model.double()
        model(torch.randn(4, 3, dtype=torch.float64)).sum().backward()
        v = torch.zeros(2)
        v.data = torch.ones(2)

    # PyTorch: the same Parameter objects, converted in place, still leaves with a .grad;
    # only the user's own `v.data = ...` is a swap.
    assert model.weight is weight and weight.is_leaf and weight.dtype == torch.float64
    assert weight.grad is not None
    swaps = [e for e in t.events if e.kind == "data_write"]
    assert [e.location.code for e in swaps if e.location is not None] == ["v.data = torch.ones(2)"]
    converted = [e for e in t.events if e.op == "Module.double"]
    assert len(converted) == 2  # weight and bias
    assert all(e.detail is not None and "stays the same leaf" in e.detail for e in converted)
    names = {node.tensor.label for node in t.backwards[0].graph.leaves if node.tensor is not None}
    assert names == {"model.weight", "model.bias"}
    assert not [f for f in t.findings if f.kind in ("data_edit", "moved_leaf")]


def test_explain_says_where_the_copys_gradient_went() -> None:
    w = torch.randn(3, requires_grad=True).double()
    (w * 2).sum().backward()

    text = gradviz.explain(w)

    # PyTorch: the leaf behind the copy holds the gradient, in the leaf's dtype.
    leaf = w.grad_fn.next_functions[0][0].variable
    assert leaf.grad is not None and leaf.grad.dtype == torch.float32
    assert "copy (grad_fn=ToCopyBackward0) of a leaf on cpu in float32" in text
    assert f".grad holds {leaf.grad.tolist()}" in text
    assert "w.grad stays None" in text and "retain_grad" not in text


def test_the_device_example_warns_about_the_copy_alone_and_its_leaf_gets_x(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: examples/17_device.py run as a script under a tracer (on the CPU: its dtype move).
    example = Path(__file__).resolve().parents[2] / "examples" / "17_device.py"
    with pytest.warns(UserWarning, match="not a leaf"), Tracer() as tracer:
        assert run_script(str(example), [], tracer) == 0
    printed = capsys.readouterr().out
    trace = tracer.result()

    # Then: one warning, for w_copy (the script reads its .grad); w, v and the model's parameters are leaves.
    (finding,) = moved(trace.findings)
    assert finding.severity == "warning" and finding.label == "w_copy"
    assert "w_copy.grad: None" in printed and "w.is_leaf: True" in printed
    assert not [e for e in trace.events if e.kind == "data_write"]
    # The leaf behind w_copy received d(w_copy * x).sum()/dw_copy = x, as the script's own w.grad shows.
    first = trace.backwards[0]
    (leaf,) = first.graph.leaves
    assert leaf.tensor is not None and leaf.tensor.grad_after is not None
    assert leaf.tensor.grad_after.values == (1.0, 2.0, 3.0)
    assert "w.grad: [1.0, 2.0, 3.0]" in printed


def test_a_move_that_changed_nothing_is_a_note_that_it_would_break_elsewhere() -> None:
    # Given: the tutorial's line on a machine where the move is to where the tensor already lives.
    device = "cpu"
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).to(device)
        x = torch.randn(3).to(device)
        (w * x).sum().backward()

    # PyTorch: here .to() returned the leaf itself, which got its gradient.
    assert w.is_leaf and w.grad is not None and torch.equal(w.grad, x)
    (finding,) = moved(t.findings)
    assert finding.severity == "note" and finding.label == "w"
    assert "w is the leaf here" in finding.message and "would stay None" in finding.message
    assert suggested_line(finding) == "w = torch.randn(3).to(device).requires_grad_()"
