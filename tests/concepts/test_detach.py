"""detach(): the same values cut from the graph; backward stops there, so upstream gets no gradient.

Example: examples/15_detach.py (plotting y_pred.detach(); a GAN-style discriminator loss on
fake.detach(), then the same loss without detach), and examples/02_no_grad_and_detach.py (e = c.detach()).
"""

from __future__ import annotations

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, shown, step_of, summary_of, svg_of, tui_at

EXAMPLE = "15_detach.py"


def gan() -> dict[str, torch.nn.Linear]:
    """The example's GAN step by torch alone: the discriminator's loss on fake.detach()."""
    torch.manual_seed(0)
    generator = torch.nn.Linear(2, 2)
    discriminator = torch.nn.Linear(2, 1)
    fake = generator(torch.randn(4, 2))
    discriminator(fake.detach()).mean().backward()
    return {"generator": generator, "discriminator": discriminator}


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE)


def names(svg_elements: dict[str, list[str]]) -> set[str]:
    return {lines[0] for key, lines in svg_elements.items() if key[0] == "n" and "->" not in key}


def test_svg_of_the_detached_loss_stops_at_the_detach_and_has_no_generator(trace: Trace) -> None:
    torch_run = gan()
    assert torch_run["generator"].weight.grad is None  # torch: nothing reached the generator

    svg = svg_of(trace.backwards[0])

    assert "generator.weight" not in names(svg.elements) and "generator.bias" not in names(svg.elements)
    weight = next(
        lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "discriminator.weight"
    )
    assert f"grad: {shown(torch_run['discriminator'].weight.grad)}" in weight
    overlay = [lines for key, lines in svg.elements.items() if key.startswith("o")]
    assert overlay == [["fake.detach()", "cut here: no gradient back", "15_detach.py:25"]]
    consumer = next(key.split("->")[0] for key in svg.elements if key.endswith("->o0"))
    assert svg.elements[consumer][0] == "AddmmBackward0"  # the discriminator's op that took fake.detach()
    assert svg.elements[f"{consumer}->o0"] == ["detach()"]


def test_svg_without_detach_reaches_the_generator_and_names_the_detach_as_written(trace: Trace) -> None:
    torch_run = gan()
    discriminator, generator = torch_run["discriminator"], torch_run["generator"]
    discriminator.zero_grad()
    fake = generator(torch.randn(4, 2))  # a graph again, without detach this time
    discriminator(fake).mean().backward()

    svg = svg_of(trace.backwards[1])

    assert {"generator.weight", "generator.bias"} <= names(svg.elements)
    overlay = next(lines for key, lines in svg.elements.items() if key.startswith("o"))
    assert overlay[:2] == ["fake.detach()", "detach(): requires_grad=False"]  # not "d_loss", which it fed
    assert generator.weight.grad is not None


def test_svg_of_a_detached_intermediate_hangs_off_its_node() -> None:
    # Given: examples/02, where e = c.detach() is used in the loss as a constant.
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = (a * 2).sin()
    e = c.detach()
    (c * e).sum().backward()
    assert e.grad_fn is None and not e.requires_grad

    svg = svg_of(run_example("02_no_grad_and_detach.py").backwards[0])

    detached = next(key for key, lines in svg.elements.items() if key.startswith("o") and lines[0] == "e")
    assert svg.elements[detached][1] == "detach(): requires_grad=False"
    source = next(key.split("->")[0] for key in svg.elements if key.endswith(f"->{detached}"))
    assert svg.elements[source][0] == type(c.grad_fn).__name__ and "output c [3]" in svg.elements[source]


async def test_tui_draws_the_detach_as_a_ghost_box(trace: Trace) -> None:
    first, second = [(await tui_at(trace, call=call, steps=[0]))[0] for call in (1, 2)]

    assert "detach: fake.detach() | cut here: no gradient back" in first.boxes
    (at_addmm,) = await tui_at(trace, call=1, steps=[step_of(trace.backwards[0], name="AddmmBackward0")])
    assert "detach: fake.detach(): cut here: no gradient back (15_detach.py:25)" in flat(at_addmm.panel)
    assert not any("generator" in box for box in first.boxes)
    assert any(box.startswith("detach: fake.detach() | detach()") for box in second.boxes)
    assert "AccumulateGrad | generator.weight [2, 2]" in second.boxes


def test_summary_notes_each_detach_and_lists_no_generator_grad_for_the_detached_loss(trace: Trace) -> None:
    torch_run = gan()

    summary = summary_of(trace)

    first = summary.split("#2 backward")[0]
    assert "generator" not in first.replace("discriminator", "")
    assert f"discriminator.weight.grad = {shown(torch_run['discriminator'].weight.grad)}" in first
    assert "note, detach (15_detach.py:17): points was detached: no gradient flows back through it" in summary
    assert "`fake.detach()` gives a result cut from the graph: no gradient flows back" in flat(summary)
