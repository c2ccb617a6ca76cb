"""The TUI at 80x24 and 200x60: what must stay on screen, the graph following every step and call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from textual.geometry import Region
from textual.widgets._footer import FooterKey

from gradviz.capture.session import Tracer
from gradviz.model import Trace
from gradviz.tui.app import GradvizApp
from gradviz.tui.dialogs import HelpScreen
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.graph_view import GraphView
from gradviz.tui.widgets.source_pane import SourcePane
from gradviz.tui.widgets.step_panel import StepPanel

from .builders import SCRIPT, chain_trace, failed_trace, tutorial_trace

SIZES = [(80, 24), (200, 60)]


def screen_of(app: GradvizApp) -> TraceScreen:
    assert isinstance(app.screen, TraceScreen)
    return app.screen


def on_screen(graph: GraphView, node: int) -> bool:
    """Whether the whole box drawing a node lies in the part of the graph the pane shows."""
    region = graph.box_region(node)
    assert region is not None, f"node {node} is not drawn"
    shown = Region(int(graph.scroll_x), int(graph.scroll_y), graph.size.width, graph.size.height)
    return shown.contains_region(region)


def two_chain_calls(length: int) -> Trace:
    """Two captured calls over the same tall chain (taller than any terminal)."""
    trace = chain_trace(length)
    first = trace.backwards[0]
    return replace(trace, backward_calls=2, backwards=(first, replace(first, index=2)))


@pytest.mark.parametrize("size", SIZES)
async def test_the_running_node_stays_in_view_and_the_footer_shows_quit_and_help(
    size: tuple[int, int],
) -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=size) as pilot:
        graph = screen_of(app).query_one(GraphView)
        await pilot.press("n", "n", "n")
        await pilot.pause()
        assert graph.current_node is not None and on_screen(graph, graph.current_node)
        assert app.screen.region.contains_region(graph.region)
        for _ in range(4):
            # Whichever pane has the focus (tab moves it), the footer keeps quit and help on screen.
            shown = [
                key.key_display or key.key
                for key in app.screen.query(FooterKey)
                if key.region.width and app.screen.region.contains_region(key.region)
            ]
            assert "q" in shown and "?" in shown, shown
            await pilot.press("tab")


@pytest.mark.parametrize("size", SIZES)
async def test_the_graph_follows_step_zero_home_and_call_changes(size: tuple[int, int]) -> None:
    # Given a chain far taller than the screen, with two captured calls
    trace = two_chain_calls(60)
    root = trace.backwards[0].graph.roots[0].node
    app = GradvizApp(trace, engine=False)
    async with app.run_test(size=size) as pilot:
        screen = screen_of(app)
        graph = screen.query_one(GraphView)
        await pilot.pause()
        assert screen.step == 0 and on_screen(graph, root), "step 0: the root backward starts at"
        await pilot.press("end")
        last = graph.current_node
        assert last is not None and on_screen(graph, last) and not on_screen(graph, root)

        # When going back to step 0, then to the other call, then back and to the end
        await pilot.press("g")
        assert on_screen(graph, root)
        await pilot.press("end", "right_square_bracket")
        await pilot.pause()
        assert screen.call == 2 and screen.step == 0 and on_screen(graph, root)
        await pilot.press("end", "left_square_bracket")
        await pilot.pause()
        assert screen.call == 1 and on_screen(graph, root)

        # Then after scrolling away, c brings the running node back to the middle
        await pilot.press("n", "n", "n", "n", "n")
        graph.scroll_to(0, graph.max_scroll_y, animate=False, immediate=True)
        node = graph.current_node
        assert node is not None and not on_screen(graph, node)
        graph.focus()
        await pilot.press("c")
        assert on_screen(graph, node)


@pytest.mark.parametrize("size", SIZES)
async def test_the_step_pane_wraps_to_its_width(size: tuple[int, int]) -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=size) as pilot:
        panel = screen_of(app).query_one(StepPanel)
        for _ in range(6):
            assert panel.virtual_size.width <= panel.scrollable_content_region.width
            await pilot.press("n")


def write_script(folder: Path, lines: int) -> None:
    (folder / SCRIPT).write_text("".join(f"line_{number} = {number}\n" for number in range(1, lines + 1)))


@pytest.mark.parametrize("size", SIZES)
async def test_the_source_pane_highlights_the_running_nodes_line(
    size: tuple[int, int], tmp_path: Path
) -> None:
    # Given the script the tutorial trace names, in the folder its locations are relative to
    write_script(tmp_path, 40)
    trace = tutorial_trace()
    app = GradvizApp(trace, source_root=tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = screen_of(app)
        await pilot.press("t")
        await pilot.pause()
        source = screen.query_one(SourcePane)
        assert source.display and source.region.height > 0
        graph = screen.query_one(GraphView)
        for _ in range(4):
            # When stepping, the highlighted line is the running node's, and it is in view
            await pilot.press("n")
            await pilot.pause()
            node = trace.backwards[0].graph.node(graph.current_node or 0)
            expected = node.location.line if node.location is not None else trace.backwards[0].location.line  # type: ignore[union-attr]
            assert source.line == expected
            top = int(source.scroll_y)
            assert top <= expected - 1 < top + source.size.height
            row = source.render_line(expected - 1 - top).text
            assert row.startswith(f"{expected:>2} ▶ line_{expected} = {expected}")
        await pilot.press("t")
        assert not source.display


async def test_the_source_pane_says_in_one_line_when_the_script_is_missing(tmp_path: Path) -> None:
    app = GradvizApp(tutorial_trace(), source_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "t")
        source = screen_of(app).query_one(SourcePane)
        assert source.line is None
        assert source.render_line(0).text == f"{SCRIPT} not found".ljust(source.size.width)
        assert source.render_line(1).text.strip() == ""


@pytest.mark.parametrize("size", SIZES)
async def test_help_fits_the_screen(size: tuple[int, int]) -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one("#help-box")
        assert app.screen.region.contains_region(box.region)
        assert box.max_scroll_y == 0 and box.max_scroll_x == 0, "everything shows without scrolling"


async def test_a_failed_call_says_so_first_on_a_narrow_screen() -> None:
    app = GradvizApp(failed_trace(), call=2)
    async with app.run_test(size=(80, 24)):
        status = screen_of(app).query_one("#status")
        shown = str(status.render())[: status.size.width]
        assert shown.startswith("FAILED in PowBackward0 #3")


@pytest.mark.parametrize("size", SIZES)
async def test_a_vector_in_the_step_pane_is_never_split_inside_its_brackets(size: tuple[int, int]) -> None:
    # Given y = x * x over 8 elements of different widths, run backward with a v as uneven
    with Tracer() as tracer:
        x = torch.tensor([1.5, 22.25, 333.0, 4444.0, 0.125, 6.0, 77.5, 8.0], requires_grad=True)
        v = torch.tensor([1.0, 10.0, 100.0, 1.0, 1.0, 10.0, 1.0, 1000.0])
        (x * x).backward(v)
    grad = x.grad
    assert grad is not None
    shown = {"v": v, "x.grad": grad, "vJ of one factor": grad / 2}
    app = GradvizApp(tracer.result())
    async with app.run_test(size=size) as pilot:
        panel = screen_of(app).query_one(StepPanel)
        text = ""
        for _ in range(3):
            lines = [line.rstrip() for line in panel.text_lines]
            # Then no line ends just inside an opening bracket (the Jacobian's rows may keep columns)
            assert not [line for line in lines if line.endswith("[")], lines
            text += " ".join(line.strip() for line in lines) + "\n"
            await pilot.press("n")
            await pilot.pause()
    # and each value reads whole once continuation lines are joined: it broke at ", " or not at all
    for name, tensor in shown.items():
        written = "[" + ", ".join(f"{number:g}" for number in tensor.tolist()) + "]"
        assert written in text, (name, written)
