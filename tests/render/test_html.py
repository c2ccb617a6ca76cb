"""The HTML page: self-contained, one drawing inline, a step slider, per-step data and the v/vJ table."""

from __future__ import annotations

import json
import re
from dataclasses import replace

from gradviz.model import BackwardCall, Step
from gradviz.render.html import to_html
from gradviz.render.style import RenderOptions

from .conftest import Builders

SVG = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10pt"><text>{}</text></svg>\n'


def test_page_holds_one_drawing_inline_without_prolog_and_a_slider_over_the_steps(
    call: BackwardCall,
) -> None:
    page = to_html(call, SVG.format("drawing"))

    assert page.startswith("<!DOCTYPE html>")
    assert '<svg width="10pt"><text>drawing</text></svg>' in page
    assert page.count("<svg") == 1
    assert "<?xml" not in page and "<!DOCTYPE svg>" not in page
    assert '<input type="range" id="step" min="0" max="5" value="5">' in page


def test_per_step_data_names_the_drawn_element_of_each_step_and_when_each_first_ran(
    call: BackwardCall,
) -> None:
    # Given the tutorial call (step 3 is MulBackward0 #2 sending [1.5, 6] twice to PowBackward0 #3)
    page = to_html(call, SVG.format("drawing"))

    # When the page's JSON is read as the script reads it
    found = re.search(r'<script type="application/json" id="steps-data">(.*?)</script>', page)
    assert found is not None
    data = json.loads(found.group(1))

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

    row = re.search(r'<tr data-step="3">.*?</tr>', page)
    assert row is not None
    assert "MulBackward0 #2" in row.group(0)
    assert "[1.5, 1.5]" in row.group(0)
    assert "[1.5, 6] &rarr; PowBackward0 #3" in row.group(0)
    leaf_row = re.search(r'<tr data-step="5">.*?</tr>', page)
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

    found = re.search(r'id="steps-data">(.*?)</script>', page)
    assert found is not None
    data = json.loads(found.group(1))
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
