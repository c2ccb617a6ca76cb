"""Leaves and non-leaves: only leaves keep .grad; a non-leaf's v is what retain_grad() would keep.

Example: examples/13_leaves_and_retain_grad.py (g retained, h not, x the leaf).
"""

from __future__ import annotations

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, shown, summary_of, svg_of, tui_at

EXAMPLE = "13_leaves_and_retain_grad.py"


def reference() -> dict[str, torch.Tensor]:
    """The example's tensors, with h retained too, so torch itself says what h's .grad would be."""
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = x * 2
    h = x * 3
    g.retain_grad()
    h.retain_grad()
    loss = (g * h).sum()
    loss.backward()
    return {"x": x, "g": g, "h": h, "loss": loss}


@pytest.fixture(scope="module")
def trace() -> Trace:
    with pytest.warns(UserWarning, match="not a leaf"):  # the example reads h.grad on purpose
        return run_example(EXAMPLE)


def node_lines(elements: dict[str, list[str]], output: str) -> list[str]:
    return next(lines for key, lines in elements.items() if key[0] == "n" and f"output {output} [3]" in lines)


def test_svg_non_leaf_says_grad_none_and_shows_the_v_retain_grad_would_keep(trace: Trace) -> None:
    torch_run = reference()

    svg = svg_of(trace.backwards[0])

    h = node_lines(svg.elements, "h")
    assert ".grad: None, not retained (retain_grad() keeps v)" in h
    assert f"v in: {shown(torch_run['h'].grad)}" in h  # the v it received is h.grad under retain_grad()
    g = node_lines(svg.elements, "g")
    assert f"retain_grad(): grad {shown(torch_run['g'].grad)}" in g
    assert not any("not retained" in line for line in g)


def test_svg_leaf_keeps_its_grad_and_the_root_starts_from_one(trace: Trace) -> None:
    torch_run = reference()

    svg = svg_of(trace.backwards[0])

    x = next(lines for key, lines in svg.elements.items() if key.startswith("n") and lines[0] == "x")
    assert torch_run["x"].is_leaf and f"grad: {shown(torch_run['x'].grad)}" in x
    assert svg.elements["r0"] == ["backward() from loss", "v = 1 = dL/dL (scalar backward)"]


async def test_tui_steps_show_grad_none_for_h_and_the_kept_grad_for_g(trace: Trace) -> None:
    # Given: the steps autograd ran h's and g's grad_fn at.
    torch_run = reference()
    call = trace.backwards[0]
    step_of = {
        call.graph.node(step.node).tensor.label: k + 1  # type: ignore[union-attr]
        for k, step in enumerate(call.steps)
        if call.graph.node(step.node).tensor is not None
    }

    # When: the TUI is stepped to each.
    h_view, g_view = sorted(
        await tui_at(trace, call=1, steps=sorted([step_of["h"], step_of["g"]])),
        key=lambda view: "(h)" not in view.panel.splitlines()[0],
    )

    # Then: h's pane says .grad None and shows v; g's pane shows the .grad retain_grad() kept.
    assert ".grad: None, not retained (retain_grad() keeps v)" in flat(h_view.panel)
    assert f"Incoming gradient v {shown(torch_run['h'].grad)}" in flat(h_view.panel)
    assert f"g.grad: {shown(torch_run['g'].grad)}, kept by retain_grad()" in flat(g_view.panel)
    assert "not retained" not in g_view.panel


def test_summary_prints_the_leaf_grad_and_the_retained_grad(trace: Trace) -> None:
    torch_run = reference()

    summary = summary_of(trace)

    assert f"x.grad = {shown(torch_run['x'].grad)}\n" in summary
    assert f"g.grad = {shown(torch_run['g'].grad)}  (not a leaf: kept by g.retain_grad())" in summary
    assert "h.grad was read" in flat(summary) and "h is not a leaf" in flat(summary)
