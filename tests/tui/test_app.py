"""Pilot tests: press keys, then check the state and what each pane shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gradviz.capture.summary import summarize
from gradviz.model import Event, Location, Trace
from gradviz.render.svg import to_svg
from gradviz.render.tensortext import value_lines
from gradviz.tui.app import GradvizApp
from gradviz.tui.dialogs import HelpScreen, JumpScreen
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.graph_view import GraphView
from gradviz.tui.widgets.step_panel import StepPanel
from gradviz.tui.widgets.timeline import Timeline

from .builders import chain_trace, failed_trace, tutorial_trace
from .conftest import Tutorial

SIZE = (120, 40)


def screen_of(app: GradvizApp) -> TraceScreen:
    assert isinstance(app.screen, TraceScreen)
    return app.screen


def panel_text(app: GradvizApp) -> str:
    view = screen_of(app).query_one(StepPanel).view
    assert view is not None
    return "\n".join([view.title, *(line for section in view.sections for line in section.lines)])


def current_name(app: GradvizApp) -> str | None:
    graph = screen_of(app).query_one(GraphView)
    backward = graph.backward
    node = graph.current_node
    return None if backward is None or node is None else backward.graph.node(node).name


async def test_stepping_walks_backward_in_the_order_autograd_ran(tutorial: Tutorial) -> None:
    app = GradvizApp(tutorial.trace)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        assert screen.step == 0 and current_name(app) is None
        names = []
        for _ in range(5):
            await pilot.press("n")
            names.append(current_name(app))
        assert names == ["MeanBackward0", "MulBackward0", "MulBackward0", "PowBackward0", "AccumulateGrad"]
        graph = screen.query_one(GraphView)
        assert len(graph.done_nodes) == 4 and graph.current_node not in graph.done_nodes
        await pilot.press("n")
        assert screen.step == 5, "stepping past the last step stays on it"
        await pilot.press("p", "left")
        assert screen.step == 3 and current_name(app) == "MulBackward0"
        await pilot.press("right")
        assert screen.step == 4
        await pilot.press("home")
        assert screen.step == 0
        await pilot.press("p")
        assert screen.step == 0
        await pilot.press("end")
        assert screen.step == 5


async def test_step_pane_shows_v_and_vj_that_match_torch(tutorial: Tutorial) -> None:
    app = GradvizApp(tutorial.trace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n")
        text = panel_text(app)
        y = tutorial.x**2
        assert value_lines(summarize(tutorial.v_z))[0] in text
        assert "[1] → PowBackward0 #3 (y): " + value_lines(summarize(tutorial.v_z * 3 * y))[0] in text
        await pilot.press("n", "n")
        # PowBackward0 receives the sum of both paths' vJ: torch's y.grad.
        assert value_lines(summarize(tutorial.v_y))[0] in panel_text(app)
        await pilot.press("end")
        text = panel_text(app)
        assert torch.equal(tutorial.x_grad, 3 * tutorial.x**3)
        grad = value_lines(summarize(tutorial.x_grad))[0]
        assert f"None  +  {grad}  =  {grad}" in text


async def test_values_toggle_to_shapes(tutorial: Tutorial) -> None:
    app = GradvizApp(tutorial.trace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "v")
        assert screen_of(app).show_values is False
        text = panel_text(app)
        assert "[2, 2] float32" in text and "0.25" not in text
        await pilot.press("v")
        assert "0.25" in panel_text(app)


async def test_switching_calls_shows_the_second_call_accumulating(tutorial: Tutorial) -> None:
    app = GradvizApp(tutorial.trace)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        await pilot.press("n", "n", "right_square_bracket")
        assert screen.call == 2 and screen.step == 0
        assert screen.query_one(GraphView).call == 2
        await pilot.press("end")
        grad = value_lines(summarize(tutorial.x_grad))[0]
        doubled = value_lines(summarize(2 * tutorial.x_grad))[0]
        assert f"{grad}  +  {grad}  =  {doubled}" in panel_text(app)
        await pilot.press("right_square_bracket")
        assert screen.call == 2, "there is no third call"
        await pilot.press("left_square_bracket")
        assert screen.call == 1
        assert "step 0 of 5" in str(screen.query_one("#status").render())


async def test_jump_to_a_node_by_tensor_name() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        assert isinstance(app.screen, JumpScreen)
        await pilot.press("y", "enter")
        screen = screen_of(app)
        assert screen.step == 4 and current_name(app) == "PowBackward0"
        await pilot.press("j", "z", "z", "z", "enter")
        assert screen.step == 4, "an unknown name leaves the step alone"


async def test_clicking_a_node_jumps_to_its_step() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=SIZE) as pilot:
        graph = screen_of(app).query_one(GraphView)
        box = graph.box_region(3)
        assert box is not None
        scroll_x, scroll_y = graph.scroll_offset
        # Offsets count from the widget's outer edge, so add its one-cell border.
        await pilot.click(GraphView, offset=(box.x + 3 - scroll_x, box.y + 2 - scroll_y))
        assert screen_of(app).step == 4 and current_name(app) == "PowBackward0"


async def test_selecting_an_event_highlights_its_tensors_in_the_graph() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=SIZE) as pilot:
        timeline = screen_of(app).query_one(Timeline)
        timeline.focus()
        # Event 0 is y = x ** 2: it made PowBackward0 (#3) from the leaf x (#4).
        await pilot.press("enter")
        graph = screen_of(app).query_one(GraphView)
        assert screen_of(app).selected == 0
        assert graph.selected_nodes == frozenset({3, 4})
        await pilot.press("escape")
        assert graph.selected_nodes == frozenset()


async def test_a_trace_without_backward_calls_shows_the_timeline_and_a_message() -> None:
    where = Location("a.py", 3)
    event = Event(0, "op", "Tensor.mul", where, inputs=(0,), outputs=(1,), grad_fn="MulBackward0")
    app = GradvizApp(Trace("2.13.0", events=(event,)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "end", "j", "s", "right_square_bracket")
        screen = screen_of(app)
        assert screen.step == 0
        assert screen.query_one(StepPanel).view is None
        assert screen.query_one(Timeline).option_count == 1
        assert "none captured" in str(screen.query_one("#status").render())


async def test_export_writes_the_current_step_as_svg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trace = tutorial_trace()
    app = GradvizApp(trace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "n", "s")
        await app.workers.wait_for_complete()
    written = tmp_path / "gradviz-step-1-2.svg"
    # the same drawing `gradviz render --step 2` makes: the view on screen, not the finished call
    assert written.read_text() == to_svg(trace.backwards[0], step=2)
    assert written.read_text() != to_svg(trace.backwards[0])


async def test_help_opens_and_closes_and_q_quits() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, TraceScreen)
        await pilot.press("q")
        assert not app.is_running


async def test_a_thousand_node_trace_opens_and_steps_to_the_end() -> None:
    app = GradvizApp(chain_trace(1000), engine=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end")
        screen = screen_of(app)
        graph = screen.query_one(GraphView)
        assert screen.step == 1000
        layout = graph.layout_result
        assert layout is not None
        box = next(box for box in layout.boxes if box.kind == "node" and box.ident == graph.current_node)
        # The view scrolled to the current node.
        assert graph.scroll_offset.y <= box.y < graph.scroll_offset.y + graph.size.height


def test_the_tui_opens_a_saved_trace_without_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    from gradviz.render.json import to_json

    path = tmp_path / "trace.json"
    path.write_text(to_json(tutorial_trace()))
    script = f"""
import asyncio, sys
sys.modules["torch"] = None
from gradviz.render.json import from_json
from gradviz.tui.app import GradvizApp

async def main():
    app = GradvizApp(from_json(open({str(path)!r}).read()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end")
        print(app.screen.query_one("#step").view.title)

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Step 5 of 5: AccumulateGrad #4 (x)"


async def test_the_timeline_follows_the_op_that_created_the_running_node() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=SIZE) as pilot:
        timeline = screen_of(app).query_one(Timeline)
        await pilot.press("n")
        # MeanBackward0 was made by event 3, out = z.mean(); PowBackward0 by event 0, y = x ** 2.
        assert timeline.highlighted == 3
        await pilot.press("n", "n", "n")
        assert current_name(app) == "PowBackward0" and timeline.highlighted == 0


async def test_a_failed_call_says_so_and_stepping_past_its_last_step_shows_where_it_raised() -> None:
    # Given call 2 raised in PowBackward0 (#3) after three steps, before x's AccumulateGrad ran
    trace = failed_trace()
    message = trace.backwards[1].error.message  # type: ignore[union-attr]
    app = GradvizApp(trace, call=2)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        status = str(screen.query_one("#status").render())
        assert "FAILED in PowBackward0 #3 (y): RuntimeError: one of the variables" in status
        assert "FAILED in PowBackward0 #3" in screen.sub_title
        await pilot.press("n", "n", "n")
        assert "the call failed after this step with RuntimeError; press n to see where." in panel_text(app)

        # When stepping past the last recorded step
        await pilot.press("n")

        # Then the step pane shows the error, where it was raised, and the leaf that got nothing
        assert screen.step == 4
        view = screen.query_one(StepPanel).view
        assert view is not None and view.title == "The call failed: RuntimeError"
        assert view.subtitle == "while autograd ran PowBackward0 #3 (y), after 3 steps ran"
        text = " ".join(panel_text(app).split())
        assert " ".join(message.split()[:12]) in text
        assert "x.grad stays" in text
        graph = screen.query_one(GraphView)
        assert graph.raised_node == 3 and current_name(app) == "PowBackward0"
        assert "after step 3 of 3" in str(screen.query_one("#status").render())
        await pilot.press("n")
        assert screen.step == 4, "the failure is the end"
        await pilot.press("home", "end")
        assert screen.step == 4 and graph.raised_node == 3
        await pilot.press("left_square_bracket", "end")
        assert screen.step == 5 and graph.raised_node is None, "call 1 finished: no failure step"
