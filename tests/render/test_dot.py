"""DOT output: what a user sees in the drawing, for a graph, a finished call and each step."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from gradviz.errors import GradvizError
from gradviz.model import BackwardCall, Graph, Location, Node, Root
from gradviz.render.dot import RenderOptions, to_dot
from gradviz.render.json import from_json, to_json
from gradviz.render.state import StepOutOfRange

from .conftest import Builders


def statement(dot: str, name: str) -> str:
    """The DOT line that declares node `name` (e.g. ``n4``), after the ``node [...]`` defaults it gets."""
    defaults = ""
    for line in dot.splitlines():
        if line.strip().startswith("node ["):
            defaults = line.strip()
        elif line.strip().startswith(f"{name} ["):
            return f"{defaults} {line.strip()}"
    raise AssertionError(f"no node {name} in the DOT source")


def edge_line(dot: str, source: str, target: str) -> str:
    """The DOT line of an edge, after the ``edge [...]`` defaults it gets."""
    defaults = ""
    for line in dot.splitlines():
        if line.strip().startswith("edge ["):
            defaults = line.strip()
        elif line.strip().startswith(f"{source} -> {target}"):
            return f"{defaults} {line.strip()}"
    raise AssertionError(f"no edge {source} -> {target} in the DOT source")


def test_tutorial_call_matches_golden(build: type[Builders], golden: Callable[[str, str], None]) -> None:
    call = build.tutorial_call(overlays=build.tutorial_overlays())

    golden("tutorial-call.dot", to_dot(call))
    golden("tutorial-call-step2.dot", to_dot(call, step=2))
    golden("tutorial-graph.dot", to_dot(build.tutorial_graph(), options=RenderOptions(legend=False)))


def test_leaf_shows_its_name_accumulate_grad_and_final_grad(call: BackwardCall) -> None:
    leaf = statement(to_dot(call), "n4")

    assert "<b>x</b>" in leaf
    assert "AccumulateGrad" in leaf
    assert "grad: [6, 48]" in leaf
    assert "requires_grad=True" in leaf
    assert "#cfe8fc" in leaf  # leaf blue, unlike the op nodes
    assert "#cfe8fc" not in statement(to_dot(call), "n1")


def test_op_nodes_show_name_source_line_output_and_saved_tensors(call: BackwardCall) -> None:
    pow_node = statement(to_dot(call), "n3")

    assert "<b>PowBackward0</b>" in pow_node
    assert "train.py:3" in pow_node
    assert "output y [2]" in pow_node
    assert "saved: self=x [1, 2]" in pow_node


def test_options_hide_saved_tensors_sources_and_values(call: BackwardCall) -> None:
    dot = to_dot(call, options=RenderOptions(saved=False, source=False, values=False))

    assert "saved:" not in dot
    assert "train.py:3" not in statement(dot, "n3")
    assert "grad: shape [2], norm 48.37" in statement(dot, "n4")


def test_edges_point_from_root_to_leaves_along_next_functions(call: BackwardCall) -> None:
    dot = to_dot(call)

    assert re.search(r"^\s*r0 -> n0\b", dot, re.M)
    for source, target in [(0, 1), (1, 2), (2, 3), (3, 4)]:
        edge_line(dot, f"n{source}", f"n{target}")
    assert "n1 -> n0" not in dot


def test_root_gets_the_v_backward_was_given(call: BackwardCall, build: type[Builders]) -> None:
    given = replace(call.graph, roots=(Root(0, "out", build.val([[2.0]])),))

    root_note = statement(to_dot(replace(call, graph=given)), "r0")

    assert "backward() from out" in root_note
    assert "v = [[2]]" in root_note


def test_finished_call_labels_each_edge_with_the_vj_sent(call: BackwardCall) -> None:
    dot = to_dot(call)

    assert 'label="[0.5, 0.5]"' in edge_line(dot, "n0", "n1")
    assert 'label="[1.5, 6] + [1.5, 6]"' in edge_line(dot, "n2", "n3")  # y * y: both slots reach y
    assert 'label="[6, 48]"' in edge_line(dot, "n3", "n4")


def test_step_marks_done_current_and_pending_nodes(call: BackwardCall) -> None:
    dot = to_dot(call, step=2)

    assert "after step 2 of 5" in dot
    current = statement(dot, "n1")
    assert "penwidth=3" in current and "#dc2626" in current
    assert "v in: [0.5, 0.5]" in current
    assert "filled" in statement(dot, "n0") and "penwidth=3" not in statement(dot, "n0")
    pending = statement(dot, "n3")
    assert "dashed" in pending and "filled" not in pending and "v in" not in pending
    assert "[0.5, 0.5]" in edge_line(dot, "n0", "n1")
    assert 'label="×2 (used twice)"' in edge_line(dot, "n2", "n3")  # nothing sent yet: y feeds both slots
    assert "grad: None" in statement(dot, "n4")  # x.grad is still None before AccumulateGrad runs


def test_step_zero_is_before_backward_and_last_step_fills_the_leaf(call: BackwardCall) -> None:
    before = to_dot(call, step=0)
    after = to_dot(call, step=5)

    assert not any("v in:" in statement(before, f"n{i}") for i in range(5))
    assert "penwidth=3" not in before.split("legend")[0]
    assert "grad: [6, 48]" in statement(after, "n4")
    assert "penwidth=3" in statement(after, "n4")


def test_accumulation_into_a_nonzero_grad_is_spelled_out(call: BackwardCall, build: type[Builders]) -> None:
    leaf = call.graph.nodes[4]
    assert leaf.tensor is not None
    tensor = replace(leaf.tensor, grad_before=build.val([1.0, 1.0]), grad_after=build.val([7.0, 49.0]))
    nodes = (*call.graph.nodes[:4], replace(leaf, tensor=tensor))

    text = statement(to_dot(replace(call, graph=replace(call.graph, nodes=nodes))), "n4")

    assert "grad before: [1, 1]" in text
    assert "grad: [7, 49]  (accumulated)" in text


def test_retain_grad_node_shows_its_grad_once_it_ran(call: BackwardCall) -> None:
    node = call.graph.nodes[3]
    assert node.tensor is not None
    nodes = list(call.graph.nodes)
    nodes[3] = replace(node, tensor=replace(node.tensor, retains_grad=True))
    retaining = replace(call, graph=replace(call.graph, nodes=tuple(nodes)))

    assert "retain_grad(): grad None" in statement(to_dot(retaining, step=1), "n3")
    assert "retain_grad(): grad [3, 12]" in statement(to_dot(retaining), "n3")
    assert "#dcfce7" in statement(to_dot(retaining), "n3")


def test_overlays_are_drawn_and_can_be_switched_off(build: type[Builders]) -> None:
    call = build.tutorial_call(overlays=build.tutorial_overlays())

    shown = to_dot(call)
    hidden = to_dot(call, options=RenderOptions(overlays=False))

    assert "made under torch.no_grad(): not recorded" in statement(shown, "o0")
    assert "<b>m</b>" in statement(shown, "o0")  # the ghost carries the user's name for the tensor
    assert "dashed" in statement(shown, "o0")
    assert "#dc2626" in statement(shown, "o1")  # the harmful .data edit, a warning, in red
    assert "#dc2626" not in statement(shown, "o0") and "#dc2626" not in statement(shown, "o2")  # notes
    assert "arrowhead=tee" in edge_line(shown, "n3", "o2")  # detach cuts the graph
    assert "y._version 0 -&gt; 1" in statement(shown, "o3")
    assert "no_grad" not in hidden and "o0" not in hidden and ".data" not in hidden


def test_legend_lists_only_what_is_in_the_picture(build: type[Builders]) -> None:
    plain = to_dot(build.tutorial_call())
    with_overlays = to_dot(build.tutorial_call(overlays=build.tutorial_overlays()))

    assert "AccumulateGrad: backward adds into its .grad" in statement(plain, "legend")
    assert "no_grad" not in statement(plain, "legend")
    assert "torch.no_grad()" in statement(with_overlays, "legend")
    # the legend says which overlays are warnings and which are notes
    assert "warning (red, bold): probably a bug" in statement(with_overlays, "legend")
    assert "note (grey, dashed): autograd did this as the code says" in statement(with_overlays, "legend")
    calm = build.tutorial_call(overlays=build.tutorial_overlays()[:1])
    assert "warning (red" not in statement(to_dot(calm), "legend")
    assert "legend" not in to_dot(build.tutorial_call(), options=RenderOptions(legend=False))


def test_user_text_is_escaped_for_html_labels(build: type[Builders]) -> None:
    odd = Node(0, "Weird<Backward>&0", Location("a&b.py", 3, code="y = a < b"))
    graph = Graph(nodes=(odd,), edges=(), roots=(Root(0, "<out>"),))

    dot = to_dot(graph)

    assert "Weird&lt;Backward&gt;&amp;0" in dot and "a&amp;b.py:3" in dot
    assert "from &lt;out&gt;" in dot


def test_same_input_gives_the_same_bytes(build: type[Builders]) -> None:
    trace = build.tutorial_trace()
    reread = from_json(to_json(trace))

    assert to_dot(trace.backwards[0], step=3) == to_dot(reread.backwards[0], step=3)


@pytest.mark.parametrize("step", [-1, 6])
def test_out_of_range_step_is_a_one_line_error(call: BackwardCall, step: int) -> None:
    with pytest.raises(StepOutOfRange, match=r"steps 0\.\.5") as info:
        to_dot(call, step=step)
    assert isinstance(info.value, GradvizError) and isinstance(info.value, ValueError)


def test_a_lone_graph_has_no_steps(graph: Graph) -> None:
    with pytest.raises(StepOutOfRange):
        to_dot(graph, step=1)


def test_ten_thousand_nodes_draw_every_link_in_full(build: type[Builders]) -> None:
    # How long it takes is measured in benchmarks/, never in a unit test.
    graph = build.chain_graph(10_000)

    dot = to_dot(graph, options=RenderOptions(full=True, legend=False))

    assert dot.count(" -> ") == 10_001  # every link plus the root's v


def test_title_names_the_call_and_shortens_long_source_lines(
    call: BackwardCall, build: type[Builders]
) -> None:
    long_line = "loss.backward(inputs=[" + ", ".join(f"weight_{i}" for i in range(20)) + "])"
    titled = replace(call, location=build.loc(42, long_line))

    title = next(line for line in to_dot(titled).splitlines() if "labelloc=t" in line)

    assert "backward call #1 at train.py:42: loss.backward(inputs=[weight_0" in title
    assert "..." in title and long_line not in title
