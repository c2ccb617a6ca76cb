"""Big graphs in the graph pane: module boxes by default, expanded and collapsed with keys."""

from __future__ import annotations

import pytest

from gradviz.render.collapse import NODE_BUDGET, collapse
from gradviz.tui.app import GradvizApp
from gradviz.tui.display import ViewKey, build_display
from gradviz.tui.marks import CURRENT
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.graph_view import GraphView

from .builders import module_trace, tutorial_trace

SIZES = [(80, 24), (200, 60)]


def graph_of(app: GradvizApp) -> GraphView:
    assert isinstance(app.screen, TraceScreen)
    return app.screen.query_one(GraphView)


def drawn_text(graph: GraphView) -> str:
    """Every box's lines, as the canvas holds them."""
    layout = graph.layout_result
    assert layout is not None
    return "\n".join(line for box in layout.boxes for line in box.lines)


@pytest.mark.parametrize("size", SIZES)
async def test_a_six_thousand_node_trace_opens_collapsed_and_lights_the_running_module(
    size: tuple[int, int],
) -> None:
    # Given a recurrent cell called for 1000 time steps: 6,003 nodes in modules
    trace = module_trace(1000)
    call = trace.backwards[0]
    app = GradvizApp(trace)
    async with app.run_test(size=size) as pilot:
        graph = graph_of(app)
        display = graph.drawing
        # Then it opens on module boxes, the drawings' collapsed view, not a layout of every node
        assert len(call.graph.nodes) > NODE_BUDGET
        assert graph.view_key == ViewKey(3) and display is not None
        assert graph.border_title == "graph · modules, depth 3 · x: expand"
        assert len(display.graph.nodes) == len(collapse(call.graph, 3).boxes) < 10
        assert "+ rnn.cell.act" in drawn_text(graph) and "Tanh x1000: 1000 nodes" in drawn_text(graph)

        # When stepping into the cell: the box of the running node is lit and in view
        await pilot.press("n", "n", "n", "n", "n")
        node = graph.current_node
        assert node is not None and call.graph.node(node).module == "rnn.cell.linear"
        box = display.owner[node]
        assert box in display.boxes and graph.box_region(node) is not None
        layout = graph.layout_result
        assert layout is not None
        drawn = next(b for b in layout.boxes if b.kind == "node" and b.ident == box)
        assert drawn.lines[0] == "+ rnn.cell.linear"
        y = drawn.y - int(graph.scroll_y)
        assert 0 <= y < graph.size.height
        strip = graph.render_line(y + 1)
        assert any(
            "rnn.cell.linear" in segment.text and segment.style == graph.rich_style + CURRENT
            for segment in strip
        )


async def test_x_expands_the_module_of_the_running_node_and_collapses_it_again() -> None:
    # Given 60 time steps (363 nodes): collapsed, with a Tanh box of 60 nodes
    trace = module_trace(60)
    call = trace.backwards[0]
    app = GradvizApp(trace, engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        graph = graph_of(app)
        await pilot.press("n", "n", "n", "n")
        node = graph.current_node
        assert node is not None and call.graph.node(node).name == "TanhBackward0"
        before = graph.drawing
        assert before is not None and "TanhBackward0" not in drawn_text(graph)

        # When x is pressed: the Tanh box opens into its 60 nodes, the running one drawn by itself
        await pilot.press("x")
        after = graph.drawing
        assert after is not None and len(after.graph.nodes) == len(before.graph.nodes) - 1 + 60
        assert after.members[after.owner[node]] == (node,)
        assert drawn_text(graph).count("TanhBackward0") == 60
        assert graph.box_region(node) is not None

        # Then x again collapses it
        await pilot.press("x")
        assert graph.drawing is not None and len(graph.drawing.graph.nodes) == len(before.graph.nodes)
        assert "TanhBackward0" not in drawn_text(graph)


async def test_depth_and_full_view_keys() -> None:
    trace = module_trace(60)
    call = trace.backwards[0]
    app = GradvizApp(trace, engine=False)
    async with app.run_test(size=(80, 24)) as pilot:
        graph = graph_of(app)
        await pilot.press("minus")
        assert graph.view_key == ViewKey(2)
        assert "+ rnn.cell" in drawn_text(graph).split("\n") and "+ rnn.cell.act" not in drawn_text(graph)
        await pilot.press("plus")
        assert graph.view_key == ViewKey(3)
        await pilot.press("f")
        assert graph.view_key == ViewKey(None)
        assert graph.drawing is not None and len(graph.drawing.graph.nodes) == len(call.graph.nodes)
        await pilot.press("f")
        assert graph.view_key == ViewKey(3)


async def test_a_small_graph_draws_every_node_and_x_says_so() -> None:
    app = GradvizApp(tutorial_trace())
    async with app.run_test(size=(80, 24)) as pilot:
        graph = graph_of(app)
        assert graph.view_key == ViewKey(None)
        await pilot.press("n", "x")
        assert graph.view_key == ViewKey(None)
        assert any("every node is drawn" in str(note.message) for note in app._notifications)


def test_box_links_follow_the_flow_of_gradients_so_any_layout_can_place_them() -> None:
    # The cell's modules feed each other at every time step; the drawn links must not loop.
    graph = module_trace(20).backwards[0].graph
    display = build_display(graph, ViewKey(3))
    order = {node.id: position for position, node in enumerate(display.graph.nodes)}
    children: dict[int, list[int]] = {}
    for edge in display.graph.edges:
        children.setdefault(edge.source, []).append(edge.target)
    seen: set[int] = set()
    stack: set[int] = set()

    def visit(node: int) -> None:
        assert node not in stack, "the box links loop"
        if node in seen:
            return
        stack.add(node)
        for child in children.get(node, ()):
            visit(child)
        stack.discard(node)
        seen.add(node)

    for node in order:
        visit(node)
    assert {(e.source, e.target) for e in display.graph.edges} >= {
        (display.owner[0], display.owner[1]),
    }
