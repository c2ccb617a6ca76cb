"""Graph layout in cells: the engine's plain output, the layered fallback, and the painted canvas."""

from __future__ import annotations

import html
import itertools

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import Graph
from gradviz.render.layout import Layout, layered_layout, layout_graph, node_lines, parse_plain, to_layout_dot
from gradviz.render.svg import run_layout, to_svg
from gradviz.tui.canvas import Canvas

from .builders import chain_trace, tutorial_trace


def graph() -> Graph:
    return tutorial_trace().backwards[0].graph


def overlapping(layout: Layout) -> list[tuple[int, int]]:
    pairs = []
    for a, b in itertools.combinations(layout.boxes, 2):
        if a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height:
            pairs.append((a.ident, b.ident))
    return pairs


def check_shape(layout: Layout, graph: Graph) -> None:
    boxes = {(box.kind, box.ident): box for box in layout.boxes}
    assert len(boxes) == len(graph.nodes) + len(graph.overlays)
    assert overlapping(layout) == []
    for edge in graph.edges:
        # Gradients flow down the screen: every node sits above the nodes it sends vJ to.
        assert boxes[("node", edge.source)].y < boxes[("node", edge.target)].y
    for box in layout.boxes:
        assert box.x >= 0 and box.x + box.width <= layout.width
        assert box.y >= 0 and box.y + box.height <= layout.height
        assert box.width == max(len(line) for line in box.lines) + 4


def test_engine_layout_places_every_node_and_overlay_without_overlap() -> None:
    layout = layout_graph(graph())
    assert layout.engine == "graphviz"
    check_shape(layout, graph())
    assert {box.lines[0] for box in layout.boxes if box.kind == "node"} >= {"MeanBackward0", "AccumulateGrad"}
    assert [box.lines for box in layout.boxes if box.kind == "overlay"] == [
        ("detach: c", "c = y.detach(): gradients s…")
    ]


def test_layered_fallback_keeps_the_same_guarantees() -> None:
    layout = layered_layout(graph())
    assert layout.engine == "layered"
    check_shape(layout, graph())


def test_missing_engine_falls_back_to_the_layered_layout() -> None:
    def missing(dot: str, fmt: str) -> bytes:
        raise LayoutEngineMissing("no engine")

    assert layout_graph(graph(), runner=missing).engine == "layered"


def test_plain_output_is_read_in_cells() -> None:
    plain = run_layout(to_layout_dot(graph()), "plain").decode()
    layout = parse_plain(plain, graph())
    assert len(layout.routes) == len(graph().edges) + len(graph().overlays)
    assert all(route.ghost == (route.target[0] == "overlay") for route in layout.routes)
    with pytest.raises(GradvizError):
        parse_plain("graph 1 2 3\nnode n0 not-a-number 1 1 1\nstop\n", graph())


def test_canvas_draws_boxes_with_labels_and_an_arrow_into_each_target() -> None:
    tutorial = graph()
    canvas = Canvas(layered_layout(tutorial), tutorial)
    rows = ["".ljust(canvas.width) for _ in range(canvas.height)]
    for y in range(canvas.height):
        line = [" "] * (canvas.width + 40)
        for run in canvas.row(y):
            line[run.x : run.x + len(run.text)] = run.text
        rows[y] = "".join(line)
    text = "\n".join(rows)
    assert "│ MeanBackward0 │" in text and "┃ AccumulateGrad ┃" in text
    for edge in tutorial.edges:
        target = canvas.boxes[("node", edge.target)]
        above = rows[target.y - 1][target.x : target.x + target.width]
        assert "▼" in above, f"no arrow into node {edge.target}"
    box = canvas.boxes[("node", 3)]
    assert canvas.box_at(box.x + 1, box.y + 1) == box
    assert canvas.box_at(0, canvas.height + 5) is None


def test_a_thousand_node_graph_lays_out_and_paints_its_first_screen() -> None:
    # How long it takes is measured in benchmarks/, never in a unit test.
    big = chain_trace(1000).backwards[0].graph
    canvas = Canvas(layered_layout(big), big)
    first_screen = [canvas.row(y) for y in range(45)]
    assert any(first_screen)
    assert len(canvas.boxes) == 1000


def test_node_boxes_write_shapes_as_the_svg_does() -> None:
    # Given a call with a 0-dim root (out) and a [2] tensor (y), traced for real
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        y = x * x
        out = y.sum()
        out.backward()
    call = tracer.result().backwards[0]
    by_name = {node.name: node for node in call.graph.nodes}

    # When the TUI lays out the boxes and the SVG draws the same call
    boxes = {name: node_lines(node) for name, node in by_name.items()}
    svg = html.unescape(to_svg(call))

    # Then both write torch's shapes as [2] and scalar, never (2) or ()
    assert out.dim() == 0 and list(y.shape) == [2]
    assert boxes["SumBackward0"] == ("SumBackward0", "out scalar") and "output out scalar" in svg
    assert boxes["MulBackward0"] == ("MulBackward0", f"y {list(y.shape)}") and "output y [2]" in svg
    assert "(2)" not in "".join(line for lines in boxes.values() for line in lines)
