"""Module clusters, the collapsed view, folding of repeated structure, and the cap on what is drawn."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gradviz.model import BackwardCall, Edge, Graph, ModuleInfo, Node, Root, Step
from gradviz.render.collapse import MAX_BOXES, NODE_BUDGET, collapse
from gradviz.render.dot import collapsed_depth, to_dot
from gradviz.render.style import RenderOptions
from gradviz.render.svg import to_svg

from .conftest import Builders

PURE = Path(sys.executable).parent / "graphviz-pure"
needs_pure = pytest.mark.skipif(not PURE.exists(), reason="graphviz-pure is installed with gradviz")


def encoder(layers: int = 12) -> Graph:
    """A transformer-like stack: ``encoder.layers.i`` is linear1 -> ReLU -> linear2, weights as leaves.

    Backward order: the loss (no module), then layer 11 down to layer 0.
    """
    nodes: list[Node] = [Node(0, "MeanBackward0")]
    edges: list[Edge] = []
    previous = 0
    for layer in reversed(range(layers)):
        for part, name in (
            ("linear2", "AddmmBackward0"),
            ("activation", "ReluBackward0"),
            ("linear1", "AddmmBackward0"),
        ):
            path = f"encoder.layers.{layer}.{part}"
            op = len(nodes)
            nodes.append(Node(op, name, module=path))
            edges.append(Edge(previous, op))
            if name == "AddmmBackward0":
                leaf = len(nodes)
                nodes.append(Node(leaf, "AccumulateGrad", module=path))
                edges.append(Edge(op, leaf, (1,)))
            previous = op
    modules = [ModuleInfo("encoder", "TransformerEncoder"), ModuleInfo("encoder.layers", "ModuleList")]
    for layer in range(layers):
        modules.append(ModuleInfo(f"encoder.layers.{layer}", "TransformerEncoderLayer"))
        modules += [
            ModuleInfo(f"encoder.layers.{layer}.linear1", "Linear"),
            ModuleInfo(f"encoder.layers.{layer}.activation", "ReLU"),
            ModuleInfo(f"encoder.layers.{layer}.linear2", "Linear"),
        ]
    return Graph(tuple(nodes), tuple(edges), (Root(0, "loss"),), modules=tuple(modules))


def test_full_drawing_boxes_each_module_call_in_a_labelled_cluster() -> None:
    dot = to_dot(encoder(2), options=RenderOptions(full=True))

    labels = re.findall(r'subgraph cluster_m\d+ \{\s*[^\n]*label="([^"]+)"', dot)
    assert "encoder (TransformerEncoder)" in labels
    assert "encoder.layers.1 (TransformerEncoderLayer)" in labels
    assert "encoder.layers.0.linear1 (Linear)" in labels
    # the nested cluster of layer 0's linear1 names its two nodes (the Addmm and its weight)
    assert re.search(r'label="encoder.layers.0.linear1 \(Linear\)"[^\n]*\n\s*n\d+\n\s*n\d+\n\s*\}', dot)


def test_clusters_need_no_module_list_and_can_be_left_out() -> None:
    bare = replace(encoder(1), modules=())

    assert 'label="encoder.layers.0.linear2"' in to_dot(bare)
    assert "cluster" not in to_dot(bare, options=RenderOptions(clusters=False))


def test_depth_one_draws_the_whole_encoder_as_one_box() -> None:
    view = collapse(encoder(), 1)

    assert [(box.path, box.type, len(box.nodes)) for box in view.boxes] == [
        (None, "MeanBackward0", 1),
        ("encoder", "TransformerEncoder", 60),
    ]
    assert [(link.source, link.target) for link in view.links] == [(0, 1)]


def test_twelve_identical_layers_fold_into_one_x12_box() -> None:
    view = collapse(encoder(), 3)

    (loss, layers) = view.boxes
    assert loss.type == "MeanBackward0" and loss.path is None
    assert layers.repeat == 12 and layers.type == "TransformerEncoderLayer"
    assert layers.path == "encoder.layers.11 .. encoder.layers.0"
    assert len(layers.nodes) == 60
    dot = to_dot(encoder(), options=RenderOptions(depth=3))
    assert "(TransformerEncoderLayer) x12" in dot


def test_a_repeated_pattern_of_several_modules_folds_too() -> None:
    # At depth 4 each layer is linear2, activation, linear1: a pattern of three boxes, twelve times.
    view = collapse(encoder(), 4)

    folded = [box for box in view.boxes if box.repeat > 1]
    assert [(box.type, box.repeat) for box in folded] == [("Linear, ReLU, Linear", 12)]


def test_different_layers_do_not_fold() -> None:
    graph = encoder(4)
    odd = tuple(
        replace(node, name="GeluBackward0") if node.module == "encoder.layers.2.activation" else node
        for node in graph.nodes
    )
    view = collapse(replace(graph, nodes=odd), 3)

    assert all(box.repeat < 4 for box in view.boxes)


def test_a_module_called_many_times_says_how_often() -> None:
    graph = encoder(1)
    cell = replace(
        graph, modules=(*graph.modules[:-1], ModuleInfo("encoder.layers.0.linear2", "Linear", 999))
    )

    dot = to_dot(cell, options=RenderOptions(depth=4))

    assert "x999 calls" in dot


def test_norms_on_the_boxes_and_links_are_those_of_the_crossing_vj(build: type[Builders]) -> None:
    # Given the loss sending vJ [3, 4] (norm 5) into layer 0, whose linear1 sends [0, 12] to its weight
    graph = replace(encoder(1), roots=(Root(0, "loss", build.val(2.0)),))
    steps = (
        Step(0, (build.val(1.0),), (build.val([3.0, 4.0]),)),
        Step(1, (build.val([3.0, 4.0]),), (build.val([1.0, 0.0]), build.val([6.0, 8.0]))),
    )
    call = BackwardCall(1, "backward", None, graph, steps=steps)

    # When drawn with each layer as a box
    dot = to_dot(call, options=RenderOptions(depth=3))

    # Then the link from the loss carries |vJ| 5, the layer box shows 5 flowing in, the loss box v = 2 in
    assert re.search(r'b0 -> b1 \[label="\|vJ\| 5"', dot)
    assert "grad in |v| 5  out |vJ| -" in dot
    assert "grad in |v| 2  out |vJ| 5" in dot


def test_big_graphs_are_collapsed_by_default_and_full_on_request(build: type[Builders]) -> None:
    big = build.chain_graph(NODE_BUDGET)  # one node over: the chain plus its leaf

    assert collapsed_depth(build.chain_graph(NODE_BUDGET - 1)) is None
    assert collapsed_depth(big) == 0
    assert collapsed_depth(big, RenderOptions(full=True)) is None
    assert collapsed_depth(build.chain_graph(5), RenderOptions(depth=2)) == 2


def test_a_five_thousand_node_chain_is_drawn_as_two_boxes(build: type[Builders]) -> None:
    dot = to_dot(build.chain_graph(5000))

    assert dot.count("[label=<") == 3  # the folded chain, the leaf x, the root's v
    assert "AddBackward0 x5000" in dot.replace("</b><br/>", " ").replace("<b>", "")
    assert "5001 nodes in 2 boxes; --full draws every node" in dot


def test_a_graph_with_nothing_to_fold_is_capped_with_a_count_of_what_is_not_drawn() -> None:
    # Given a chain of distinct ops: no module, no repeat, so nothing folds
    length = MAX_BOXES + 100
    nodes = tuple(Node(i, f"Op{i}Backward0") for i in range(length))
    graph = Graph(nodes, tuple(Edge(i, i + 1) for i in range(length - 1)), (Root(0),))

    dot = to_dot(graph, options=RenderOptions(depth=0))

    assert dot.count("[label=<") == MAX_BOXES + 1  # the boxes nearest the root, and the root's v
    assert "Op0Backward0" in dot and f"Op{length - 1}Backward0" not in dot
    assert "100 nodes not drawn (--full draws every node)" in dot


def test_bias_and_weight_side_branches_join_the_op_they_hang_off(build: type[Builders]) -> None:
    # Given Linear + ReLU layers with no module information: Addmm -> bias, Addmm -> T -> weight
    nodes, edges = [Node(0, "MeanBackward0")], []
    previous = 0
    for _ in range(10):
        base = len(nodes)
        nodes += [
            Node(base, "ReluBackward0"),
            Node(base + 1, "AddmmBackward0"),
            Node(base + 2, "AccumulateGrad", tensor=build.tensor("bias", (4,), is_leaf=True)),
            Node(base + 3, "TBackward0"),
            Node(base + 4, "AccumulateGrad", tensor=build.tensor("weight", (4, 4), is_leaf=True)),
        ]
        edges += [Edge(previous, base), Edge(base, base + 1), Edge(base + 1, base + 2, (0,))]
        edges += [Edge(base + 1, base + 3, (2,)), Edge(base + 3, base + 4)]
        previous = base + 1
    view = collapse(Graph(tuple(nodes), tuple(edges), (Root(0),)), 0)

    assert [(box.type, box.repeat, len(box.nodes)) for box in view.boxes] == [
        ("MeanBackward0", 1, 1),
        ("ReluBackward0, AddmmBackward0", 10, 50),
    ]


def fan_out(children: int) -> Graph:
    """One SumBackward0 over `children` leaves, as ``torch.stack(params).sum()`` makes."""
    nodes = (Node(0, "SumBackward0"), *(Node(i, "AccumulateGrad") for i in range(1, children + 1)))
    return Graph(nodes, tuple(Edge(0, i, (i - 1,)) for i in range(1, children + 1)), (Root(0),))


def test_a_wide_fan_out_hangs_in_rows_of_eight_off_a_trunk() -> None:
    dot = to_dot(fan_out(100), options=RenderOptions(legend=False))

    # 100 leaves: 8 off the SumBackward0 itself, then 12 more rows, each off its own trunk point
    assert re.findall(r"^\tn0 -> n\d+$", dot, re.M) == [f"\tn0 -> n{i}" for i in range(1, 9)]
    assert len(re.findall(r"n0_row\d+ \[label=\"\"", dot)) == 12
    assert re.findall(r"^\tn0_row12 -> n\d+$", dot, re.M) == [f"\tn0_row12 -> n{i}" for i in range(97, 101)]
    assert "n0_row11 -> n0_row12 [arrowhead=none" in dot


@needs_pure
def test_a_wide_fan_out_draws_narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    svg = to_svg(fan_out(100), options=RenderOptions(legend=False))

    width, height = (
        float(number) for number in re.findall(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)[0]
    )
    assert width < 1500 and height > width / 4  # 100 leaves side by side would be over 5,000 pt wide


def cell_loop(build: type[Builders], steps: int = 100) -> Graph:
    """`steps` steps of a cell whose output node has the loop's line and whose two inner nodes (made
    inside torch, no line) both feed the next step: diamonds, so no straight run folds."""
    nodes: list[Node] = [Node(0, "MeanBackward0", build.loc(12, "loss = h.mean()"))]
    edges: list[Edge] = []
    for step in range(steps):
        out, gate, state = 3 * step + 1, 3 * step + 2, 3 * step + 3
        nodes += [
            Node(out, "MulBackward0", build.loc(10, "h, c = cell(x, (h, c))")),
            Node(gate, "SigmoidBackward0"),
            Node(state, "TanhBackward0"),
        ]
        edges += [Edge(out - 1 if step == 0 else out - 2, out), Edge(out, gate), Edge(out, state, (1,))]
        if step:
            edges.append(Edge(out - 1, out))
    return Graph(tuple(nodes), tuple(edges), (Root(0, "loss"),))


def test_a_loop_without_modules_is_grouped_by_the_line_that_made_it(build: type[Builders]) -> None:
    graph = cell_loop(build)

    view = collapse(graph, 0)

    assert view.by_line
    assert [(box.path, box.type, len(box.nodes)) for box in view.boxes] == [
        ("train.py:12", "loss = h.mean()", 1),
        ("train.py:10", "h, c = cell(x, (h, c))", 300),
    ]
    assert "collapsed view (by source line): 301 nodes in 2 boxes" in to_dot(graph)


def test_modules_stay_boxes_and_the_loop_outside_them_is_grouped_by_line(build: type[Builders]) -> None:
    # Given the loss computed in a module "head", the loop outside any module
    graph = cell_loop(build)
    graph = replace(
        graph,
        nodes=(replace(graph.nodes[0], module="head"), *graph.nodes[1:]),
        modules=(ModuleInfo("head", "Loss"),),
    )

    view = collapse(graph, 1)

    assert [(box.path, box.type, len(box.nodes)) for box in view.boxes] == [
        ("head", "Loss", 1),
        ("train.py:10", "h, c = cell(x, (h, c))", 300),
    ]
    assert "(module depth 1, the rest by source line)" in to_dot(graph)
