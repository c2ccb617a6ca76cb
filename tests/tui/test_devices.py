"""The TUI on a dtype move and a model.to(): the step pane and the timeline say what torch did."""

from __future__ import annotations

import torch
from torch import nn

import gradviz
from gradviz.tui.app import GradvizApp
from gradviz.tui.widgets.timeline import Timeline, event_text

from .test_app import SIZE, current_name, panel_text, screen_of


async def test_the_copy_step_says_where_the_gradient_goes_back_and_model_to_is_no_swap() -> None:
    # Given: the pitfall (a dtype move stands in for .to(device)) and a model converted in place.
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).double()
        (w * 2).sum().backward()
        model = nn.Linear(2, 1)
        model.double()
    leaf = w.grad_fn.next_functions[0][0].variable
    app = GradvizApp(t.result())

    async with app.run_test(size=SIZE) as pilot:
        # When: stepping to the node autograd ran third, the copy.
        await pilot.press("n", "n", "n")

        # Then: it is the copy, and the pane says both ends, in torch's dtypes.
        assert current_name(app) == "ToCopyBackward0"
        text = panel_text(app)
        there, here = str(leaf.dtype).removeprefix("torch."), str(w.dtype).removeprefix("torch.")
        assert f"copy {there} -> {here}, grad back {here} -> {there}" in text
        assert "w is this copy, not a leaf: w.grad stays None" in text
        timeline = screen_of(app).query_one(Timeline)
        lines = [event_text(event).plain for event in timeline.events if event.op == "Module.double"]
        assert len(lines) == len(list(model.parameters())) == 2
        assert all("stays the same leaf" in line and "[.data =]" not in line for line in lines)
