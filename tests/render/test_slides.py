"""Slide-ready drawings: no legend, left-to-right layout, PNG resolution, titles, legend edges as drawn."""

from __future__ import annotations

import re
import struct
from dataclasses import replace

import pytest

from gradviz.model import BackwardCall
from gradviz.render.dot import RenderOptions, to_dot
from gradviz.render.labels import without_comment
from gradviz.render.svg import run_layout, to_svg

from .conftest import Builders


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels, read from the PNG's IHDR header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def edge_paths(svg: str) -> dict[str, str]:
    """Each edge's title (``a->b``) to the attributes of its drawn line (``<path ...>``)."""
    found = re.findall(r"<title>([^<]*)</title>\s*<path ([^>]*)", svg)
    return {title.replace("&#45;&gt;", "->"): attrs for title, attrs in found}


def line_style(path_attrs: str) -> dict[str, str]:
    """What makes a line look the way it does: stroke colour, width and dashes (``d`` left out)."""
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', path_attrs))
    return {key: value for key, value in attrs.items() if key != "d"}


def test_no_legend_leaves_the_legend_out_of_the_svg(call: BackwardCall) -> None:
    with_legend = to_svg(call)
    without = to_svg(call, options=RenderOptions(legend=False))

    assert "legend" in with_legend
    assert "legend" not in without and "MulBackward0" in without


def test_rankdir_lr_lays_the_graph_out_left_to_right(call: BackwardCall, build: type[Builders]) -> None:
    # Given: the finished tutorial call, drawn both ways
    dot = to_dot(call, options=RenderOptions(rankdir="LR", legend=False))
    top_down = to_svg(call, options=RenderOptions(legend=False))
    left_right = to_svg(call, options=RenderOptions(rankdir="LR", legend=False))

    # Then: the DOT says so, and the picture is wider than tall where the default is taller than wide
    assert "rankdir=LR" in dot
    size = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
    tb_width, tb_height = map(float, size.findall(top_down)[0])
    lr_width, lr_height = map(float, size.findall(left_right)[0])
    assert tb_height > tb_width and lr_width > lr_height
    # the collapsed view takes the direction too
    assert "rankdir=LR" in to_dot(build.chain_graph(5), options=RenderOptions(rankdir="LR", depth=0))


@pytest.mark.parametrize("bad", [{"rankdir": "BT"}, {"dpi": 0}, {"theme": "dark"}])
def test_bad_render_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^(rankdir|dpi|theme) must"):
        RenderOptions(**bad)  # type: ignore[arg-type]


def test_png_dpi_sets_the_resolution_and_leaves_svg_alone(call: BackwardCall) -> None:
    dot = to_dot(call)

    low = png_size(run_layout(dot, "png", dpi=72))
    high = png_size(run_layout(dot, "png", dpi=200))

    assert high[0] > 2 * low[0] and high[1] > 2 * low[1]
    assert run_layout(dot, "svg", dpi=200) == run_layout(dot, "svg")


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("loss.backward()  # the first pass", "loss.backward()"),
        ('print("a # b"); loss.backward()  # c', 'print("a # b"); loss.backward()'),
        ("f(x,  # an open bracket", "f(x,"),
        ('s = """a # b', 's = """a # b'),  # a string left open: its # is no comment
        ("loss.backward()", "loss.backward()"),
    ],
)
def test_titles_leave_out_source_comments(
    call: BackwardCall, build: type[Builders], line: str, shown: str
) -> None:
    titled = replace(call, location=build.loc(6, line))

    title = next(row for row in to_dot(titled).splitlines() if "labelloc=t" in row)

    assert without_comment(line) == shown
    assert f"train.py:6: {shown}" in title
    left_out = line[len(shown) :].strip()
    assert not left_out or left_out not in title


def test_legend_draws_vj_edges_as_the_drawing_does(call: BackwardCall) -> None:
    # Given: the finished call, where every link carries its vJ
    svg = to_svg(call)

    # When: the legend's vJ entry and the drawing's links are compared as drawn
    paths = edge_paths(svg)
    legend = line_style(paths["legend_flow->legend_flow_to"])
    links = [line_style(attrs) for title, attrs in paths.items() if re.fullmatch(r"n\d+->n\d+", title)]

    # Then: the entry is a line drawn exactly as each link is: solid, same colour and width
    assert links and all(link == legend for link in links)
    assert "stroke-dasharray" not in legend and legend["stroke"] == "#15803d"
    assert "-----&gt;" not in svg


def stroke_widths(svg: str) -> list[float]:
    """The width of every drawn line of the edges (``n1->n2``), as the SVG says."""
    widths = []
    for attrs in edge_paths(svg).values():
        found = re.search(r'stroke-width="([\d.]+)"', attrs)
        widths.append(float(found.group(1)) if found else 1.0)
    return widths


def font_sizes(svg: str) -> list[float]:
    return [float(size) for size in re.findall(r'<text [^>]*font-size="([\d.]+)"', svg)]


def test_projector_theme_has_larger_type_thicker_lines_and_no_pale_grey(
    call: BackwardCall, build: type[Builders]
) -> None:
    # Given: the same finished call, overlays and all, drawn for a screen and for a room
    call = replace(call, graph=build.tutorial_call(overlays=build.tutorial_overlays()).graph)
    screen = to_svg(call)
    room = to_svg(call, options=RenderOptions(theme="projector"))

    # Then: the smallest text and the thinnest line of the room's drawing are half as large again
    assert min(font_sizes(room)) >= 1.5 * min(font_sizes(screen)) >= 13
    assert min(stroke_widths(room)) >= 2 * min(stroke_widths(screen)) >= 2
    # the muted grey of secondary lines is darkened; the same nodes are drawn
    assert "#6b7280" in screen and "#6b7280" not in room and "#9ca3af" not in room
    assert room.count('class="node"') == screen.count('class="node"')
    # the collapsed view takes the theme too
    assert "fontsize=17" in to_dot(build.chain_graph(5), options=RenderOptions(theme="projector", depth=0))
