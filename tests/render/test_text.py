"""The terminal tree: root first, shared nodes referenced, deep chains cut, steps shown."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from gradviz.model import BackwardCall, Edge, Graph, Node, Root
from gradviz.render.text import to_rich, to_text

from .conftest import Builders


def test_tree_reads_root_first_down_to_the_leaf(call: BackwardCall) -> None:
    lines = to_text(call).splitlines()

    assert lines[0] == "backward call #1 at train.py:6"
    assert "backward() from out, v = 1" in lines[1]
    order = [
        next(i for i, line in enumerate(lines) if name in line)
        for name in (
            "MeanBackward0 #0",
            "MulBackward0 #1",
            "MulBackward0 #2",
            "PowBackward0 #3",
            "x (AccumulateGrad #4)",
        )
    ]
    assert order == sorted(order)
    leaf = lines[order[-1]]
    assert "[2] float32" in leaf and "grad [6, 48]" in leaf
    # Each child sits deeper than its parent: the tree nests along next_functions.
    indents = [len(lines[i]) - len(lines[i].lstrip("│├└─ ")) for i in order]
    assert indents == sorted(indents) and len(set(indents)) == len(indents)


def test_a_node_reached_twice_is_printed_once_then_referenced(build: type[Builders]) -> None:
    # Given out = a * b with a and b both computed from the same leaf x
    nodes = (
        Node(0, "MulBackward0"),
        Node(1, "ExpBackward0"),
        Node(2, "SinBackward0"),
        Node(3, "AccumulateGrad", tensor=build.tensor("x", (3,), is_leaf=True)),
    )
    graph = Graph(nodes, (Edge(0, 1, (0,)), Edge(0, 2, (1,)), Edge(1, 3), Edge(2, 3)), (Root(0, "out"),))

    text = to_text(graph)

    assert text.count("x (AccumulateGrad #3)") == 1
    assert "-> see AccumulateGrad #3" in text


def test_a_100k_node_chain_prints_without_recursion_error(build: type[Builders]) -> None:
    graph = build.chain_graph(100_000, detailed=False)

    text = to_text(graph)

    assert "AddBackward0 #0" in text
    assert "... 99991 more nodes below (cut at 10 levels)" in text
    assert len(text.splitlines()) < 100


def test_step_shows_done_and_current_and_hides_future_grads(call: BackwardCall) -> None:
    text = to_text(call, step=2)

    assert "after step 2 of 5" in text.splitlines()[0]
    current = next(line for line in text.splitlines() if "MulBackward0 #1" in line)
    assert "<- this step" in current and "v [0.5, 0.5]" in current
    assert "v [" not in next(line for line in text.splitlines() if "PowBackward0 #3" in line)
    assert "grad None" in next(line for line in text.splitlines() if "AccumulateGrad" in line)


def test_overlays_hang_under_their_node_and_can_be_hidden(build: type[Builders]) -> None:
    call = build.tutorial_call(overlays=build.tutorial_overlays())

    shown = to_text(call, width=200)
    assert "! data_edit: x.data edited" in shown  # a warning
    assert "- no_grad: m = x * 2 made under torch.no_grad()" in shown  # a note
    assert "no_grad" not in to_text(call, overlays=False)


def test_accumulated_grad_shows_before_and_after(call: BackwardCall, build: type[Builders]) -> None:
    leaf = call.graph.nodes[4]
    assert leaf.tensor is not None
    tensor = replace(leaf.tensor, grad_before=build.val([1.0, 1.0]), grad_after=build.val([7.0, 49.0]))
    graph = replace(call.graph, nodes=(*call.graph.nodes[:4], replace(leaf, tensor=tensor)))

    text = to_text(replace(call, graph=graph), width=200)

    assert "grad before [1, 1]  grad [7, 49] (accumulated)" in text


def test_rich_tree_carries_colour_for_a_terminal(call: BackwardCall) -> None:
    console = Console(width=120, color_system="truecolor", force_terminal=True, record=True)
    console.print(to_rich(call))

    coloured = console.export_text(styles=True)

    assert "\x1b[" in coloured
    assert "\x1b[" not in to_text(call)
