"""A .data edit, harmful or harmless: what the drawing and the warning say, checked against torch."""

from __future__ import annotations

import html

import torch

from gradviz.capture.session import Tracer
from gradviz.render.dot import to_dot


def _fresh_grad(square: bool) -> list[float]:
    """x.grad with no edit at all, as torch computes it."""
    x = torch.tensor([1.0], requires_grad=True)
    (x * x if square else 2 * x).backward()
    return x.grad.tolist()  # type: ignore[union-attr]


def test_an_edit_backward_reads_shows_both_values_and_the_gradient_without_it() -> None:
    # Given: y = x * x saved x; x.data *= 100 before backward
    with Tracer() as tracer:
        x = torch.tensor([1.0], requires_grad=True)
        y = x * x
        x.data *= 100
        y.backward()
    call = tracer.result().backwards[0]
    mul = next(node for node in call.graph.nodes if node.name == "MulBackward0")
    # Then: each saved copy says what forward used and what backward used
    assert {(s.name, s.forward_value.values, s.value.values) for s in mul.saved if s.forward_value} == {
        ("self", (1.0,), (100.0,)),
        ("other", (1.0,), (100.0,)),
    }
    # and the vJ without the edit adds up to torch's gradient of the unedited graph, the real one to x.grad
    step = next(step for step in call.steps if step.node == mul.id)
    assert sum(v.values[0] for v in step.unedited if v is not None) == _fresh_grad(square=True)[0]  # type: ignore[index]
    assert x.grad.tolist() == [200.0]  # type: ignore[union-attr]
    dot = html.unescape(to_dot(call))
    assert "forward used [1], backward used [100]" in dot
    assert "without the edit it would send [1] and [1]" in dot
    [warning] = [f for f in tracer.result().findings if f.kind == "data_edit"]
    assert (
        warning.severity == "warning"
        and "would have sent [1] and [1] instead of [100] and [100]" in warning.message
    )


def test_an_edit_backward_does_not_read_is_a_note_that_says_the_gradient_is_unchanged() -> None:
    # Given: y = 2 * x saves only the constant 2; x.data *= 100 before backward
    with Tracer() as tracer:
        x = torch.tensor([1.0], requires_grad=True)
        y = 2 * x
        x.data *= 100
        y.backward()
    trace = tracer.result()
    call = trace.backwards[0]
    # Then: the gradient is torch's unedited one, the overlay is a note, and nothing claims a change
    assert x.grad.tolist() == _fresh_grad(square=False)  # type: ignore[union-attr]
    [overlay] = call.graph.overlays
    assert overlay.kind == "data_edit" and overlay.severity == "note"
    assert not any(f.kind == "data_edit" and f.severity == "warning" for f in trace.findings)
    dot = html.unescape(to_dot(call))
    assert "harmless: backward reads no saved copy of it," in dot
    assert "forward used" not in dot and "warning (red, bold)" not in dot
