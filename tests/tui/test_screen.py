"""What the screen shows at 80x24, row by row: whole status lines, line numbers, no stray glyphs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gradviz.model import Event, Location, Trace
from gradviz.render.stepview import Section, StepView, step_view
from gradviz.tui.app import GradvizApp
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.graph_view import GraphView
from gradviz.tui.widgets.step_panel import StepPanel, to_lines
from gradviz.tui.widgets.timeline import Timeline, event_text

from .builders import SCRIPT, chain_trace, failed_trace, tutorial_trace

SIZE = (80, 24)
#: The block characters textual draws at a thin scrollbar thumb's ends; in a terminal they read as noise.
PARTIAL_BLOCKS = set("▁▂▃▄▅▆▇▉▊▋▌▍▎▏")


def rows(app: GradvizApp) -> list[str]:
    """The screen as the terminal shows it, one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def status_rows(app: GradvizApp) -> list[str]:
    """The rows between the panes and the footer: the status line(s)."""
    screen = app.screen
    status = screen.query_one("#status")
    shown = rows(app)
    return [shown[y].strip() for y in range(status.region.y, status.region.bottom)]


@pytest.mark.parametrize(
    ("trace", "keys"),
    [(tutorial_trace(), ["n", "n"]), (chain_trace(60), ["n", "n", "n"]), (failed_trace(), ["end"])],
    ids=["tutorial", "tall chain", "failed call"],
)
async def test_scrollbars_show_without_stray_glyphs(trace: Trace, keys: list[str]) -> None:
    app = GradvizApp(trace, engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        # Given a pane that does not fit (so a scrollbar is drawn)
        scrolled = [
            pane
            for pane in (screen.query_one(GraphView), screen.query_one(StepPanel))
            if pane.show_vertical_scrollbar or pane.show_horizontal_scrollbar
        ]
        assert scrolled, "this case must have a scrollbar on screen"
        # Then no row of the screen holds a partial block
        for number, row in enumerate(rows(app)):
            assert not PARTIAL_BLOCKS & set(row), f"row {number}: {row!r}"


async def test_the_status_line_shows_the_whole_step_call_and_line() -> None:
    trace = tutorial_trace()
    backward = trace.backwards[0]
    app = GradvizApp(trace)
    total, where = len(backward.steps), backward.location
    async with app.run_test(size=SIZE) as pilot:
        for step in range(total + 1):
            # Then every step's status is one full row, ending with the line that called backward
            assert status_rows(app) == [
                f"step {step} of {total} · call 1 of 1 captured · backward() at {where}"
            ]
            await pilot.press("n")


async def test_a_failed_call_has_its_error_on_a_row_of_its_own_above_the_whole_status() -> None:
    trace = failed_trace()
    backward = trace.backwards[1]
    app = GradvizApp(trace, call=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")
        await pilot.pause()
        failed, status = status_rows(app)
        # The error is cut at the screen's edge with an ellipsis, never wrapped onto the status
        assert failed.startswith("FAILED in PowBackward0 #3 (y): RuntimeError: one of the variables")
        assert failed.endswith("…") and len(failed) <= SIZE[0]
        assert status == f"after step 3 of 3 · call 2 of 2 captured · backward() at {backward.location}"
        # and a call that finished has the one row again
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert status_rows(app) == [
            f"step 0 of 5 · call 1 of 2 captured · backward() at {trace.backwards[0].location}"
        ]


async def test_every_timeline_row_shows_its_line_number_and_the_border_names_the_file() -> None:
    trace = tutorial_trace()
    app = GradvizApp(trace)
    async with app.run_test(size=SIZE):
        timeline = app.screen.query_one(Timeline)
        region = timeline.region
        assert timeline.border_subtitle == SCRIPT
        shown = [row[region.x : region.right] for row in rows(app)[region.y : region.bottom]]
        for event in trace.events:
            assert event.location is not None
            assert any(f" {event.id:>4} {event.location.line} " in row for row in shown), (event, shown)


def test_a_long_file_name_is_shortened_never_the_line_number() -> None:
    event = Event(0, "op", "Tensor.mul", Location("a_rather_long_script_name.py", 1234))
    text = event_text(event, main="train.py").plain
    assert text.startswith("   0 a_rath…:1234 Tensor.mul")
    # and a line of the main file (named in the border) shows as the number alone
    assert event_text(replace(event, location=Location("train.py", 7)), main="train.py").plain.startswith(
        "   0 7 "
    )


def test_code_in_the_step_pane_wraps_after_a_calls_parenthesis_never_leaving_it_alone() -> None:
    # Given a call made at a line a little wider than the step pane at 80x24
    trace = tutorial_trace()
    code = "loss.backward(retain_graph=True)"
    call = replace(trace.backwards[0], location=Location("04_accumulation.py", 14, "<module>", code))
    # When its step 0 is laid out at the pane's width
    lines = [line.plain.rstrip() for line in to_lines(step_view(call, 0), 33)]
    # Then the code breaks after "(" and every line fits
    assert "  loss.backward(" in lines and "  retain_graph=True)" in lines, lines
    assert all(len(line) <= 33 for line in lines) and "  )" not in lines


def test_a_value_too_long_for_its_line_moves_whole_or_breaks_after_a_comma() -> None:
    # Given vJ lines as the step pane writes them, at the pane's width at 80x24
    sent = "[0] → AccumulateGrad #6 (x): [0, 60]"
    long = "[0] → AccumulateGrad #1 (x): [1.5, 222.5, 33300, 4444, 0.125, 60, 77.5, 8000]"
    view = StepView("Step 3 of 7: SelectBackward0 #5", None, (Section("vJ sent", (sent, long), "vj"),))
    # When they are wrapped
    lines = [line.plain.rstrip() for line in to_lines(view, 33)]
    # Then the short value moves whole to the next line, the long one breaks only after its commas
    assert lines[lines.index("  [0] → AccumulateGrad #6 (x):") + 1] == "    [0, 60]", lines
    tail = lines[lines.index("  [0] → AccumulateGrad #1 (x):") + 1 :]
    assert tail == ["    [1.5, 222.5, 33300, 4444,", "    0.125, 60, 77.5, 8000]"], lines
    assert all(len(line) <= 33 for line in lines)
