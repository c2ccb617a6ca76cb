"""The stderr summary of `gradviz trace`, from traces captured from real torch code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.render.summary import summarize


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_summary_names_each_call_its_leaves_and_every_finding() -> None:
    # Given: a trace with a no_grad region, an accumulation, a .data edit and a non-leaf .grad read
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        hidden = w * 2
        with torch.no_grad():
            frozen = hidden + 1  # noqa: F841 - a tensor made under no_grad, as a learner would
        loss = (hidden * w).sum()
        _ = hidden.grad  # None: hidden is not a leaf and does not retain its grad
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        w.data *= 10
        loss.backward()

    text = summarize(tracer.result(), [Path("out/trace.json")], "out")

    # Then: each call with its line and leaf gradient, and each finding with its title
    lines = text.splitlines()
    assert lines[0] == "gradviz: the traced code made 3 backward/grad calls, all captured"
    assert "#1 backward at" in lines[1] and "loss.backward(retain_graph=True)" in lines[1]
    assert "w.grad = [8, 12]" in text  # d/dw of sum(2w * w) = 4w
    assert "(was [8, 12]: backward added into it)" in text  # the second call added into a non-zero .grad
    # warnings in full first, then each note on one line
    titles = ["! .data edit", "! .grad of a non-leaf", "- note, no_grad", "- note, accumulation"]
    positions = [text.find(title) for title in titles]
    assert -1 not in positions and max(positions[:2]) < min(positions[2:]), text
    assert all(len(line) <= 100 for line in lines if line.startswith("  - note"))
    assert text.rstrip().endswith("gradviz: wrote out/: trace.json")


def test_summary_counts_calls_past_the_budget() -> None:
    with Tracer(max_backward=1) as tracer:
        w = torch.tensor([1.0], requires_grad=True)
        for _ in range(4):
            w.grad = None
            (w * 5).sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "made 4 backward/grad calls, captured the first 1" in text
    assert "#2-#4: counted, not captured" in text
    assert "w.grad changed in 3 of them, now [5]" in text


def test_summary_stays_short_for_a_model_with_many_parameters() -> None:
    layers = [torch.nn.Linear(2, 2) for _ in range(20)]
    with Tracer(max_backward=1) as tracer:
        for _ in range(2):
            hidden = torch.ones(1, 2)
            for layer in layers:
                hidden = layer(hidden)
            hidden.sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "layers[19].weight.grad = " in text  # leaves in walk order: nearest the loss first
    assert "... and 28 more leaves (all in trace.json and the SVG)" in text  # 40 parameters, 12 shown
    assert "... and 28 more leaves (all in trace.json)" in text  # the counted call, likewise
    assert len(text.splitlines()) < 40


def test_summary_names_exactly_the_calls_that_were_not_captured() -> None:
    # under vmap, autograd runs on batched tensors without storage: such a call cannot be captured
    with Tracer(max_backward=2) as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        torch.func.vmap(torch.func.grad(lambda t: (t**2).sum()))(torch.ones(3, 2))
        (x * 3).sum().backward()
        (x * 4).sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "made 4 backward/grad calls, captured 2: #1, #3" in text
    assert "  #2, #4: counted, not captured" in text


def test_many_notes_are_one_counted_line_after_the_warnings() -> None:
    # Given: an evaluation block per metric and detaches for logging: what the code asked for
    model = torch.nn.Linear(2, 1)
    with Tracer() as tracer:
        prediction = model(torch.ones(3, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        logged = [prediction.detach().sum(), prediction.detach().mean(), prediction.detach().max()]
        with torch.no_grad():
            model(torch.ones(1, 2))
        with torch.inference_mode():
            model(torch.ones(1, 2))
        with torch.no_grad():
            model(torch.ones(1, 2))
        prediction.sum().backward()

    text = summarize(tracer.result(), [], None)

    assert len(logged) == 3 and "!" not in text
    (counted,) = [line for line in text.splitlines() if line.startswith("  - ")]
    assert counted == (
        "  - 6 notes: 5 no_grad blocks, 1 detach (autograd did what the code says; all in trace.json)"
    )


def test_a_small_non_scalar_backward_prints_dy_dx_v_and_v_j() -> None:
    # Given: y = [x0 * x1, x1 ** 2] (a Jacobian that is not diagonal), backward with v = [1, 10].
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        y = torch.stack([x[0] * x[1], x[1] ** 2])
        y.backward(torch.tensor([1.0, 10.0]))

    text = summarize(tracer.result(), [], None)

    # Then: torch's own Jacobian, row by row, and v J equal to x.grad.
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.stack([t[0] * t[1], t[1] ** 2]), x.detach())
    assert jacobian.tolist() == [[3.0, 2.0], [0.0, 6.0]] and x.grad.tolist() == [3.0, 62.0]
    assert "vector-Jacobian product" in text and "J = dy/dx is 2 x 2" in text
    assert "[[ 1, 10]]  @  [[3, 2],  =  [ 3, 62]" in text
    assert "                [0, 6]]" in text


def test_a_scalar_backward_prints_no_jacobian_block() -> None:
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        (x * x).sum().backward()

    text = summarize(tracer.result(), [], None)

    assert "x.grad = [4, 6]" in text and "dy/dx" not in text
