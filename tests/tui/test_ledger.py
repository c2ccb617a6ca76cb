"""The TUI's ledger view (key l) and the step pane's notes, from real traces."""

from __future__ import annotations

import runpy
from pathlib import Path

import torch
from textual.widgets import Static

from gradviz.capture.session import Tracer
from gradviz.render.ledger import to_ledger_text
from gradviz.render.stepview import step_view
from gradviz.tui.app import GradvizApp
from gradviz.tui.ledger import LedgerScreen

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "11_linear_regression.py"


async def test_l_opens_the_ledger_of_the_linear_regression_and_closes_it() -> None:
    # Given: the tutorial's linear regression, traced
    with Tracer() as tracer:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    trace = tracer.result()
    app = GradvizApp(trace)
    async with app.run_test(size=(80, 24)) as pilot:
        # When: l is pressed
        await pilot.press("l")
        # Then: the ledger is shown, as ledger.txt says it, ending at w = 3 and b = 0.8
        assert isinstance(app.screen, LedgerScreen)
        shown = str(app.screen.query_one(Static).render())
        assert shown.rstrip() == to_ledger_text(trace).rstrip()
        assert shown.rstrip().splitlines()[-1].split()[-2:] == ["[3]", "[0.8]"]
        await pilot.press("l")
        assert not isinstance(app.screen, LedgerScreen)


def test_the_step_pane_says_a_leaf_was_zeroed_and_a_node_read_an_edited_saved_tensor() -> None:
    # Given: backward, a zeroing, backward; then x * x with a .data edit
    with Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        (w * w).sum().backward()
        w.grad.zero_()  # type: ignore[union-attr]
        (w * w).sum().backward()
        x = torch.tensor([1.0], requires_grad=True)
        y = x * x
        x.data *= 100
        y.backward()
    second, third = tracer.result().backwards[1:]
    # Then: the leaf's step in call 2 says where .grad was zeroed and what it held then (torch: zeros)
    leaf_step = len(second.steps)
    text = _text(step_view(second, leaf_step))
    assert "zeroed at line" in text and "w.grad.zero_()" in text and "grad before: [0, 0]" in text
    # and MulBackward0's step in call 3 shows forward and backward values and the vJ without the edit
    mul_step = next(
        i for i, s in enumerate(third.steps, 1) if third.graph.node(s.node).name == "MulBackward0"
    )
    text = _text(step_view(third, mul_step))
    assert (
        "forward used [1], backward used [100]" in text
        and "without the edit it would send [1] and [1]" in text
    )


def _text(view: object) -> str:
    sections = view.sections  # type: ignore[attr-defined]
    return "\n".join(line for section in sections for line in (section.title, *section.lines))


async def test_the_ledger_keeps_one_row_per_line_at_80x24() -> None:
    # Given: a leaf whose ledger rows are wider than an 80-column terminal
    with Tracer() as tracer:
        weights_with_a_long_name = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        for _ in range(2):
            (weights_with_a_long_name * 12.5).sum().backward()
        weights_with_a_long_name.grad = None
    trace = tracer.result()
    lines = to_ledger_text(trace).splitlines()
    assert max(len(line) for line in lines) > 78
    app = GradvizApp(trace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("l")
        await pilot.pause()
        # When: the ledger is open
        box = app.screen.query_one("#ledger-box")
        shown = [strip.text for strip in app.screen._compositor.render_strips()]
        inner = [
            row[box.region.x + 2 : box.region.right - 2]
            for row in shown[box.region.y + 1 : box.region.bottom - 1]
        ]
        # Then: each line of ledger.txt is one row, cut at the edge (it scrolls sideways), never wrapped
        for line, row in zip(lines, inner, strict=False):
            assert row.rstrip() == line[: len(row)].rstrip(), (line, row)
        assert box.max_scroll_x > 0
