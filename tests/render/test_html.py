"""The HTML page: self-contained, the drawing(s) inline, a slider over the steps and the v/vJ table."""

from __future__ import annotations

import re
from dataclasses import replace

from gradviz.model import BackwardCall
from gradviz.render.html import to_html, wants_per_step

from .conftest import Builders

SVG = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10pt"><text>{}</text></svg>\n'


def test_page_contains_each_step_svg_inline_without_prolog(call: BackwardCall) -> None:
    svgs = [SVG.format(f"drawing {k}") for k in range(len(call.steps) + 1)]

    page = to_html(call, svgs)

    assert page.startswith("<!DOCTYPE html>")
    for k in range(len(call.steps) + 1):
        assert f'<svg width="10pt"><text>drawing {k}</text></svg>' in page
    assert "<?xml" not in page and "<!DOCTYPE svg>" not in page
    assert page.count('class="frame"') == 6
    assert page.count('class="frame" hidden') == 5  # only the finished call is visible at first
    assert '<input type="range" id="step" min="0" max="5" value="5">' in page


def test_page_needs_no_network(call: BackwardCall) -> None:
    page = to_html(call, [SVG.format("x")])

    assert not re.search(r"(src|href)=\"?https?:", page)
    assert "<script src" not in page and "<link" not in page


def test_steps_table_shows_v_in_and_vj_out_with_their_targets(call: BackwardCall) -> None:
    page = to_html(call, [SVG.format("x")])

    row = re.search(r'<tr data-step="3">.*?</tr>', page)
    assert row is not None
    assert "MulBackward0 #2" in row.group(0)
    assert "[1.5, 1.5]" in row.group(0)
    assert "[1.5, 6] &rarr; PowBackward0 #3" in row.group(0)
    leaf_row = re.search(r'<tr data-step="5">.*?</tr>', page)
    assert leaf_row is not None and "added into .grad" in leaf_row.group(0)
    assert "<td>x</td><td>[2]</td>" in page and "[6, 48]" in page


def test_single_svg_for_big_graphs_says_the_slider_moves_the_table(call: BackwardCall) -> None:
    page = to_html(call, [SVG.format("final")])

    assert page.count('class="frame"') == 1
    assert "slider moves through the table" in page


def test_no_engine_page_still_has_the_table_and_says_why(call: BackwardCall) -> None:
    page = to_html(call, [])

    assert "No drawing" in page and "pip install graphviz-pure" in page
    assert 'data-step="1"' in page


def test_user_text_is_escaped(call: BackwardCall, build: type[Builders]) -> None:
    odd = replace(call, location=build.loc(6, "out.backward()  # <b>bold</b> & more"))

    page = to_html(odd, [])

    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page
    assert "<b>bold</b>" not in page


def test_big_graphs_get_only_the_final_drawing(build: type[Builders]) -> None:
    small = build.tutorial_call()
    big = replace(small, graph=build.chain_graph(500))

    assert wants_per_step(small)
    assert not wants_per_step(big)
