"""Text stays inside its node's box when the SVG is drawn by rsvg-convert and by headless Chromium.

Each renderer draws with this machine's fonts and again with one font family only (a fontconfig file
that names just its folder): DejaVu, where a drawing laid out for Helvetica ran past its boxes, and
Liberation, where the SVG's font stack falls back to a narrower font.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gradviz.model import BackwardCall, Location
from gradviz.render.style import MONO_STACK, RenderOptions
from gradviz.render.svg import to_svg
from gradviz.render.svgtext import fit_text

from .conftest import Builders
from .test_html_browser import CHROMIUM, INSTALL, _browser_missing

SVG = "http://www.w3.org/2000/svg"
RSVG = shutil.which("rsvg-convert")
LONG_FILE = "a_rather_long_training_script_for_the_slides.py"


def long_labels(build: type[Builders]) -> dict[str, tuple[BackwardCall, RenderOptions]]:
    """Drawings whose lines are long in every kind of text: bold names, muted lines, mono values."""
    call = build.tutorial_call(overlays=build.tutorial_overlays())
    nodes = tuple(
        replace(node, location=Location(LONG_FILE, 100 + node.id, "train_one_epoch", "z = y * y * 3"))
        for node in call.graph.nodes
    )
    named = replace(call, graph=replace(call.graph, nodes=nodes), location=Location(LONG_FILE, 9, "f"))
    failed = build.failed_call()
    return {
        "tutorial": (named, RenderOptions()),
        "step2-LR": (named, RenderOptions(rankdir="LR")),
        "projector": (named, RenderOptions(theme="projector")),
        "collapsed": (named, RenderOptions(depth=0)),
        "failed": (replace(failed, graph=replace(failed.graph, nodes=nodes)), RenderOptions()),
    }


#: Font setups a viewer may have: this machine's; DejaVu only (what the SVG asks for first, and what a
#: Helvetica drawing ran past); Liberation only (no DejaVu: the stack falls back to Helvetica's metric twin).
FONT_SETUPS = {"system": None, "dejavu-only": "DejaVu Sans", "liberation-only": "Liberation Sans"}


def fonts_env(folder: Path, setup: str) -> dict[str, str] | None:
    """Environment for a renderer that finds only the fonts of one family's folder (None: this machine's)."""
    family = FONT_SETUPS[setup]
    if family is None:
        return None
    found = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True)
    assert family.split()[0] in found.stdout, (
        f"{family} is needed: apt-get install fonts-dejavu-core fonts-liberation"
    )
    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><fontconfig>'
        f"<dir>{Path(found.stdout).parent}</dir><cachedir>{folder / 'cache'}</cachedir>"
        '<include ignore_missing="yes">/etc/fonts/conf.d</include></fontconfig>'
    )
    return {**os.environ, "FONTCONFIG_FILE": str(config)}


def text_over_boxes(svg: str) -> str:
    """The drawing reduced to its nodes' text in red under their boxes filled blue: red left is overflow."""
    root = ET.fromstring(svg)
    graph = root.find(f"{{{SVG}}}g")
    assert graph is not None
    texts: list[ET.Element] = []
    boxes: list[ET.Element] = []
    for node in graph.iter(f"{{{SVG}}}g"):
        shapes = [el for el in node.iter() if el.tag in (f"{{{SVG}}}polygon", f"{{{SVG}}}path")]
        if node.get("class") != "node" or not shapes:
            continue
        for shape in shapes:
            shape.attrib.update(fill="#0000ff", stroke="#0000ff")
            shape.attrib.pop("stroke-dasharray", None)
        texts.extend(text for text in node.iter(f"{{{SVG}}}text") if not text.set("fill", "#ff0000"))
        boxes.extend(shapes)
    for child in list(graph):
        graph.remove(child)
    graph.extend([*texts, *boxes])
    return ET.tostring(root, encoding="unicode")


def red_pixels(png: bytes) -> int:
    """How many strongly red pixels an 8-bit RGBA PNG (as rsvg-convert writes) has."""
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (depth, colour) == (8, 6)
    chunks, at = [], 8
    while at < len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        if png[at + 4 : at + 8] == b"IDAT":
            chunks.append(png[at + 8 : at + 8 + size])
        at += size + 12
    raw, stride, previous, count = zlib.decompress(b"".join(chunks)), width * 4, bytearray(width * 4), 0
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = row[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
                )
                row[i] = (row[i] + near[2]) & 255
        count += sum(1 for x in range(0, stride, 4) if row[x] > 128 and row[x + 2] < 100 and row[x + 3] > 128)
        previous = row
    return count


def rsvg(svg: str, env: dict[str, str] | None = None) -> bytes:
    if RSVG is None:
        pytest.fail("the text-fit test needs rsvg-convert: apt-get install librsvg2-bin", pytrace=False)
    return subprocess.run(
        [RSVG, "-f", "png"], input=svg.encode(), capture_output=True, check=True, env=env
    ).stdout


@pytest.mark.parametrize("fonts", list(FONT_SETUPS))
def test_rsvg_draws_every_line_inside_its_box(build: type[Builders], tmp_path: Path, fonts: str) -> None:
    env = fonts_env(tmp_path, fonts)
    for name, (call, options) in long_labels(build).items():
        # Given: the drawing laid out by the engine, each node's text drawn under its filled box
        svg = to_svg(call, step=2 if "step2" in name else None, options=options)
        png = rsvg(text_over_boxes(svg), env)

        # Then: no text shows beside a box
        assert red_pixels(png) == 0, f"{name}: text runs past its box in rsvg-convert ({fonts} fonts)"


def test_the_overflow_check_sees_text_past_a_box(build: type[Builders]) -> None:
    # Given: a drawing whose first node is made too narrow for its text, as Times metrics once did
    svg = to_svg(build.tutorial_call(), options=RenderOptions(legend=False))
    narrow = re.sub(
        r"(<title>n0</title>\s*<path [^>]*d=\")([^\"]*)", lambda m: m.group(1) + "M0,0 L1,0 L1,1 Z", svg
    )

    assert red_pixels(rsvg(text_over_boxes(narrow))) > 50


#: Each node text's overflow past the left and right of its node's shapes, as Chromium measures it.
OVERFLOW = """() => [...document.querySelectorAll("g.node")].flatMap(node => {
  const shapes = [...node.querySelectorAll("polygon, path")].map(shape => shape.getBBox());
  if (!shapes.length) return [];
  // a double border or a table draws several shapes: the box is all of them
  const left = Math.min(...shapes.map(b => b.x)), right = Math.max(...shapes.map(b => b.x + b.width));
  const box = {x: left, width: right - left};
  return [...node.querySelectorAll("text")].map(text => {
    const ink = text.getBBox();
    return [node.querySelector("title").textContent, text.textContent,
            box.x - ink.x, ink.x + ink.width - box.x - box.width];
  });
})"""


@pytest.fixture(scope="module", params=list(FONT_SETUPS))
def chromium(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        pytest.fail(f"the text-fit test needs a browser: {missing}; {INSTALL}", pytrace=False)
    from playwright.sync_api import sync_playwright

    env = fonts_env(tmp_path_factory.mktemp("fonts"), request.param)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], env=env)
        yield browser
        browser.close()


def test_chromium_draws_every_line_inside_its_box(
    chromium: Any, build: type[Builders], tmp_path: Path
) -> None:
    page = chromium.new_page()
    for name, (call, options) in long_labels(build).items():
        path = tmp_path / f"{name}.svg"
        path.write_text(to_svg(call, step=2 if "step2" in name else None, options=options))

        page.goto(path.as_uri())
        lines = page.evaluate(OVERFLOW)

        assert len(lines) > 10
        past = [line for line in lines if line[2] > 0.5 or line[3] > 0.5]
        assert not past, f"{name}: text past its box in Chromium: {past[:3]}"
    page.close()


def test_centred_lines_are_anchored_at_the_node_centre(build: type[Builders]) -> None:
    # Given: the finished tutorial call, whose root box holds lines of several widths
    svg = to_svg(build.tutorial_call())
    root = _node(svg, "n0")
    outline = re.search(r' d="([^"]*)"', root)
    assert outline is not None
    xs = [float(number) for number in re.findall(r"-?\d+\.?\d*", outline.group(1))[0::2]]

    anchors = _anchors(root)

    # Then: every line is anchored at the middle of the box, so a narrower font cannot drift to one side
    assert len(anchors) > 3
    assert all(anchor == "middle" and abs(x - (min(xs) + max(xs)) / 2) < 0.01 for anchor, x in anchors)
    assert "sans-Serif" not in svg and "font-family=\"'DejaVu Sans'," in svg


def _node(svg: str, title: str) -> str:
    found = re.search(rf'class="node">\s*<title>{title}</title>(.*?)</g>', svg, re.DOTALL)
    assert found is not None
    return found.group(1)


def _anchors(node: str) -> list[tuple[str, float]]:
    return [(anchor, float(x)) for anchor, x in re.findall(r'text-anchor="(\w+)" x="([-\d.]+)"', node)]


def test_fit_text_leaves_tables_left_aligned_blocks_and_other_fonts_alone() -> None:
    table = (
        '<g id="node1" class="node"><title>legend</title>'
        '<polygon points="0,0 10,0 10,10 0,10"/><polygon points="20,0 90,0 90,10 20,10"/>'
        '<text text-anchor="start" x="22" font-family="Times,serif">a</text></g>'
    )
    # the whole call's matrices: every line starts at one x so that their columns line up
    left_aligned = (
        '<g id="node2" class="node"><title>jacobian</title><path d="M0,0 L100,0 L100,40 L0,40"/>'
        '<text text-anchor="start" x="8" font-family="Courier,monospace">[[1, 0],</text>'
        '<text text-anchor="start" x="8" font-family="Courier,monospace"> [0, 1]]</text></g>'
    )

    assert fit_text(table) == table
    assert fit_text(left_aligned) == left_aligned.replace('"Courier,monospace"', '"' + MONO_STACK + '"')
