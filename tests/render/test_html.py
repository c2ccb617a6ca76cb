"""The HTML player page: self-contained, one drawing inline (two to expand modules), step data, source."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from gradviz.model import BackwardCall, Graph, ModuleInfo, Step
from gradviz.render.html import to_html
from gradviz.render.pagedata import FULL_IN_PAGE, other_views, source_excerpt
from gradviz.render.style import RenderOptions

from .conftest import Builders

SVG = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10pt"><text>{}</text></svg>\n'


def _data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="steps-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_page_holds_one_drawing_inline_without_prolog_and_opens_before_backward(
    call: BackwardCall,
) -> None:
    page = to_html(call, SVG.format("drawing"))

    assert page.startswith("<!DOCTYPE html>")
    assert '<svg width="10pt"><text>drawing</text></svg>' in page
    assert page.count("<svg") == 1
    assert "<?xml" not in page and "<!DOCTYPE svg>" not in page
    assert '<input type="range" id="step" min="0" max="5" value="0"' in page
    assert all(f'<tr data-step="{n}" hidden>' in page for n in range(1, 6))  # revealed step by step


def test_per_step_data_names_the_drawn_element_of_each_step_and_when_each_first_ran(
    call: BackwardCall,
) -> None:
    # Given the tutorial call (step 3 is MulBackward0 #2 sending [1.5, 6] twice to PowBackward0 #3)
    page = to_html(call, SVG.format("drawing"))

    # When the page's JSON is read as the script reads it
    data = _data(page)["views"]["full"]

    # Then each step names the SVG element of its node, and each element the step it first ran at
    assert data["elements"] == ["n0", "n1", "n2", "n3", "n4"]
    assert data["first"]["n2"] == 3 and data["first"]["n2->n3"] == 3 and data["first"]["n4"] == 5
    assert "n1->n2" in data["first"] and "n2->n1" not in data["first"]


def test_page_size_grows_with_nodes_plus_steps_not_their_product(build: type[Builders]) -> None:
    # Given a 40-node chain and the same chain with 40 recorded steps
    graph = build.chain_graph(40)
    steps = tuple(Step(node.id, (build.val(1.0),), (build.val(1.0),)) for node in graph.nodes[:-1])
    bare = BackwardCall(1, "backward", None, graph)
    stepped = replace(bare, steps=steps)
    svg = SVG.format("x" * 20_000)

    # When both are written with the same drawing
    growth = len(to_html(stepped, svg)) - len(to_html(bare, svg))

    # Then the steps add their table rows and data, but never another copy of the drawing
    assert to_html(stepped, svg).count("<svg") == 1
    assert growth < 20_000


def test_page_needs_no_network(call: BackwardCall) -> None:
    page = to_html(call, SVG.format("x"))

    assert not re.search(r"(src|href)=\"?https?:", page)
    assert "<script src" not in page and "<link" not in page


def test_steps_table_shows_v_in_and_vj_out_with_their_targets(call: BackwardCall) -> None:
    page = to_html(call, SVG.format("x"))

    row = re.search(r'<tr data-step="3" hidden>.*?</tr>', page)
    assert row is not None
    assert "MulBackward0 #2" in row.group(0)
    assert "[1.5, 1.5]" in row.group(0)
    assert "[1.5, 6] &rarr; PowBackward0 #3" in row.group(0)
    leaf_row = re.search(r'<tr data-step="5" hidden>.*?</tr>', page)
    assert leaf_row is not None and "added into .grad" in leaf_row.group(0)
    assert "<td>x</td><td>[2]</td>" in page and "[6, 48]" in page


def test_script_restyles_the_drawing_and_fills_the_side_panel(call: BackwardCall) -> None:
    page = to_html(call, SVG.format("x"))

    assert '<div id="panel"></div>' in page
    assert "g.pending" in page and "g.current" in page  # styles the script switches per step
    assert 'classList.add("current")' in page


def test_collapsed_drawing_maps_steps_to_boxes(build: type[Builders]) -> None:
    # Given a call drawn collapsed (depth 0: the chain folds into one box, the leaf is another)
    graph = build.chain_graph(10)
    steps = tuple(Step(node.id, (build.val(1.0),), (build.val(1.0),)) for node in graph.nodes[:-1])
    call = BackwardCall(1, "backward", None, graph, steps=steps)

    page = to_html(call, SVG.format("x"), options=RenderOptions(depth=0))

    data = _data(page)["views"]["depth0"]
    assert set(data["elements"]) == {"b0"}
    assert data["first"] == {"b0": 1, "b0->b1": 10}


def test_no_engine_page_still_has_the_table_and_says_why(call: BackwardCall) -> None:
    page = to_html(call, None)

    assert "No drawing" in page and "pip install graphviz-pure" in page
    assert 'data-step="1"' in page


def test_user_text_is_escaped(call: BackwardCall, build: type[Builders]) -> None:
    odd = replace(call, location=build.loc(6, "out.backward()  # <b>bold</b> & more"))

    page = to_html(odd, None)

    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page
    assert "<b>bold</b>" not in page


def test_source_pane_shows_the_whole_short_file_with_each_line_tagged(call: BackwardCall) -> None:
    # Given the text of train.py, as the caller read it (the renderer reads no file)
    text = "\n".join(f"line {n}" for n in range(1, 11))

    page = to_html(call, SVG.format("x"), sources={"train.py": text})

    # Then every line is there, tagged file:line, and each step names its node's line
    assert page.count('<span class="line" data-loc="train.py:') == 10
    assert '<span class="line" data-loc="train.py:4"><span class="ln">4</span>line 4</span>' in page
    made = [call.graph.nodes[step.node].location for step in call.steps]
    assert _data(page)["where"] == [f"train.py:{where.line}" if where else "" for where in made]


def test_without_the_file_the_source_pane_shows_the_recorded_lines(build: type[Builders]) -> None:
    call = build.tutorial_call()

    lines = source_excerpt(call)

    recorded = {n.location.line for n in call.graph.nodes if n.location} | {6}
    assert sorted(line[1] for line in lines if line is not None) == sorted(recorded)


def test_a_long_file_is_cut_to_the_lines_around_the_nodes(build: type[Builders]) -> None:
    # Given a 1,000-line file in which the call's nodes were made on lines 2 to 6
    text = "\n".join(f"line {n}" for n in range(1, 1001))

    lines = source_excerpt(build.tutorial_call(), {"train.py": text})

    numbers = [line[1] for line in lines if line is not None]
    assert numbers == list(range(1, 11))  # lines 2..6 and 4 lines either side, not the whole file


def _modular(call: BackwardCall) -> BackwardCall:
    nodes = tuple(replace(n, module="block" if n.id in (1, 2) else None) for n in call.graph.nodes)
    graph: Graph = replace(call.graph, nodes=nodes, modules=(ModuleInfo("block", "Square"),))
    return replace(call, graph=graph)


def test_with_modules_the_page_holds_the_collapsed_view_too_and_maps_nodes_to_boxes(
    call: BackwardCall,
) -> None:
    # Given a call whose two MulBackward0 nodes ran in module "block"
    modular = _modular(call)
    others = other_views(modular, RenderOptions())
    assert [other.depth for other in others] == [1]

    page = to_html(modular, SVG.format("full"), others=[(SVG.format("boxes"), others[0])])

    # Then both drawings are there, the full one shown, and each node knows its box
    assert '<div class="drawing" data-view="full">' in page
    assert '<div class="drawing" data-view="depth1" hidden>' in page
    data = _data(page)
    assert data["levels"] == ["depth1", "full"]
    owner = data["owner"]["depth1"]
    assert owner[1] == owner[2] != owner[0]
    assert data["views"]["depth1"]["elements"][1] == owner[1]


def test_a_big_collapsed_graph_carries_other_depths_but_never_its_full_drawing(build: type[Builders]) -> None:
    # Given chains just under and over the page's limit, and a big one whose nodes are in modules a.b.c
    small = BackwardCall(1, "backward", None, build.chain_graph(FULL_IN_PAGE - 1))
    big = BackwardCall(1, "backward", None, build.chain_graph(FULL_IN_PAGE + 1))
    nested = replace(big.graph, nodes=tuple(replace(n, module=f"a.b{n.id % 2}.c") for n in big.graph.nodes))

    # Then the small one can show every node, the big one cannot, and the nested one other depths
    assert other_views(small, RenderOptions(depth=0)) == [RenderOptions(full=True)]
    assert other_views(big, RenderOptions()) == []
    assert other_views(replace(big, graph=nested), RenderOptions(depth=2)) == [
        RenderOptions(depth=3),
        RenderOptions(depth=1),
    ]
    assert other_views(build.tutorial_call(), RenderOptions()) == []  # no module: nothing to expand


def test_source_text_cannot_end_the_page_script(call: BackwardCall) -> None:
    text = 'print("</script><script>alert(1)</script>")\n' * 6

    page = to_html(call, SVG.format("x"), sources={"train.py": text})

    assert "<script>alert(1)" not in page
    assert page.count("<script") == 2  # the page's data and its player, nothing from the source
