"""no_grad: ops run but autograd records nothing, so their results have no grad_fn and get no gradient.

Example: examples/02_no_grad_and_detach.py (d = b * c under torch.no_grad()).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, run_source, shown, step_of, summary_of, svg_of, tui_at

EXAMPLE = "02_no_grad_and_detach.py"


def reference() -> dict[str, torch.Tensor]:
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 2
    c = b.sin()
    with torch.no_grad():
        d = b * c
    e = c.detach()
    ((c * e).sum() + d.sum()).backward()
    return {"a": a, "b": b, "d": d}


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE)


def test_svg_draws_the_no_grad_result_as_a_ghost_off_its_input(trace: Trace) -> None:
    torch_run = reference()
    assert torch_run["d"].grad_fn is None and not torch_run["d"].requires_grad

    svg = svg_of(trace.backwards[0])

    ghost = next(key for key, lines in svg.elements.items() if key.startswith("o") and lines[0] == "d")
    assert svg.elements[ghost][1:] == ["no_grad: not recorded, no grad_fn", "02_no_grad_and_detach.py:16"]
    source = next(key.split("->")[0] for key in svg.elements if key.endswith(f"->{ghost}"))
    assert svg.elements[f"{source}->{ghost}"] == ["no_grad"]
    assert svg.elements[source][0] == type(torch_run["b"].grad_fn).__name__
    assert "output b [3]" in svg.elements[source]
    # d is not in the graph backward walked: no node outputs it, and a.grad is torch's (d added nothing).
    assert not any("output d " in " ".join(lines) for key, lines in svg.elements.items() if key[0] == "n")
    leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "a")
    assert f"grad: {shown(torch_run['a'].grad)}" in leaf


async def test_tui_draws_the_no_grad_ghost_and_says_it_at_its_inputs_step(trace: Trace) -> None:
    b_step = step_of(trace.backwards[0], label="b")

    start, at_b = await tui_at(trace, call=1, steps=[0, b_step])

    assert any(box.startswith("no_grad: d | no_grad: not recorded") for box in start.boxes)
    assert "MulBackward0 | b [3]" in start.boxes
    assert "Step" in at_b.panel and "(b)" in at_b.panel.splitlines()[0]
    text = flat(at_b.panel)
    assert (
        "Not recorded by autograd no_grad: d: no_grad: not recorded, no grad_fn (02_no_grad_and_detach.py:16)"
        in text
    )


def test_summary_notes_the_no_grad_op_and_prints_torchs_gradient(trace: Trace) -> None:
    torch_run = reference()

    summary = summary_of(trace)

    assert f"a.grad = {shown(torch_run['a'].grad)}\n" in summary
    assert "note, no_grad (02_no_grad_and_detach.py:15): d was computed under torch.no_grad()" in summary


def test_evaluation_and_plotting_past_the_capture_budget_are_still_noted(tmp_path: Path) -> None:
    # Given: the tutorials' pattern: a manual training loop (no optimizer), then evaluate under no_grad
    # and detach a prediction for plotting, with only the first two calls captured.
    source = """\
import torch

w = torch.zeros(1, requires_grad=True)
x = torch.linspace(-1, 1, 8)
for _ in range(5):
    loss = ((w * x - 3 * x) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
    w.grad = None
with torch.no_grad():
    y_eval = w * x
y_pred = w * x
points = y_pred.detach()
"""
    summary = summary_of(run_source(tmp_path, source, max_backward=2))

    assert "#3-#5: counted, not captured" in summary
    assert "note, no_grad (snippet.py:11): y_eval was computed under torch.no_grad()" in summary
    assert "note, detach (snippet.py:14): points was detached" in summary
