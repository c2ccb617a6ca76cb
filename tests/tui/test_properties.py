"""Random small graphs: the cell layout never overlaps, and every step of every call can be shown."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.model import BackwardCall, Edge, Graph, Node, Overlay, Root, Step, TensorInfo, Value
from gradviz.render.layout import layered_layout, layout_graph
from gradviz.render.stepview import find_node, step_view
from gradviz.tui.canvas import Canvas

from .test_layout import check_shape

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def values(draw: st.DrawFn) -> Value | None:
    if draw(st.booleans()):
        return None
    shape = draw(shapes)
    count = 1
    for size in shape:
        count *= size
    flat = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=count, max_size=count))

    def nest(items: list[float], dims: tuple[int, ...]) -> object:
        if not dims:
            return items[0]
        step = len(items) // dims[0] if dims[0] else 0
        return tuple(nest(items[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0]))

    nested = nest(flat, shape) if count or shape else flat[0]
    keep = draw(st.booleans())
    return Value(shape, "float32", nested if keep else None, 0.0, 1.0, 0.5, 2.0)  # type: ignore[arg-type]


@st.composite
def calls(draw: st.DrawFn) -> BackwardCall:
    count = draw(st.integers(1, 9))
    nodes = []
    for ident in range(count):
        leaf = draw(st.booleans()) and ident > 0
        name = (
            "AccumulateGrad"
            if leaf
            else draw(st.sampled_from(["MulBackward0", "AddBackward0", "SumBackward0"]))
        )
        label = draw(st.one_of(st.none(), st.text("abcxyz_", min_size=1, max_size=40)))
        tensor = TensorInfo(label, draw(shapes), "float32", "cpu", is_leaf=leaf, grad_after=draw(values()))
        nodes.append(Node(ident, name, None, tensor))
    links: dict[tuple[int, int], list[int]] = {}
    for source in range(count):
        if nodes[source].is_accumulate_grad:
            continue
        targets = draw(st.lists(st.integers(source + 1, count), max_size=3)) if source + 1 < count else []
        for slot, target in enumerate(targets):
            if target < count:
                links.setdefault((source, target), []).append(slot)
    edges = tuple(Edge(source, target, tuple(slots)) for (source, target), slots in sorted(links.items()))
    overlays = tuple(
        Overlay(
            i,
            "no_grad",
            None,
            "made under no_grad",
            attached_to=draw(st.one_of(st.none(), st.integers(0, count))),
        )
        for i in range(draw(st.integers(0, 2)))
    )
    order = draw(st.permutations(range(count)))
    steps = tuple(
        Step(
            node,
            (draw(values()),),
            tuple(draw(values()) for _ in range(draw(st.integers(0, 3)))),
            tuple(draw(values()) for _ in range(draw(st.integers(0, 2)))),
        )
        for node in order
    )
    graph = Graph(tuple(nodes), edges, (Root(0, None, draw(values())),), overlays)
    return BackwardCall(1, "backward", None, graph, steps)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls(), st.booleans())
def test_any_call_lays_out_cleanly_and_every_step_shows(call: BackwardCall, show_values: bool) -> None:
    layout = layered_layout(call.graph)
    check_shape(layout, Graph(call.graph.nodes, call.graph.edges, (), call.graph.overlays))
    canvas = Canvas(layout, call.graph)
    for y in range(canvas.height):
        runs = canvas.row(y)
        assert all(a.x + len(a.text) <= b.x for a, b in itertools.pairwise(runs)), "runs overlap"
    for step in range(len(call.steps) + 1):
        view = step_view(call, step, show_values=show_values, width=40)
        assert view.title.startswith(f"Step {step} of {len(call.steps)}")
    assert find_node(call.graph, "0") == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_the_engine_layout_of_any_call_is_read_back_without_overlap(call: BackwardCall) -> None:
    layout = layout_graph(call.graph)
    assert layout.engine == "graphviz"
    check_shape(layout, Graph(call.graph.nodes, call.graph.edges, (), call.graph.overlays))
