"""The HTML page's script, run by Node.js on a minimal stand-in DOM: the slider restyles the drawing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradviz.model import BackwardCall
from gradviz.render.html import to_html
from gradviz.render.svg import to_svg

NODE = shutil.which("node")
PURE = Path(sys.executable).parent / "graphviz-pure"
pytestmark = pytest.mark.skipif(NODE is None or not PURE.exists(), reason="needs Node.js and graphviz-pure")

#: Just enough DOM for the page's script: SVG groups by <title>, table rows and cells, the panel.
DOM = r"""
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
const script = html.match(/<script>([\s\S]*?)<\/script>/)[1];
const data = html.match(/id="steps-data">([\s\S]*?)<\/script>/)[1];
function classes() { const s = new Set(); return { add: (...a) => a.forEach(x => s.add(x)),
  remove: (...a) => a.forEach(x => s.delete(x)), contains: x => s.has(x), list: () => [...s].sort() }; }
function element(tag) { return { tag, textContent: "", innerHTML: "", className: "", children: [],
  classList: classes(), dataset: {}, listeners: {}, appendChild(c) { this.children.push(c); },
  replaceChildren() { this.children = []; }, addEventListener(e, f) { this.listeners[e] = f; } }; }
const groups = [];
for (const m of html.matchAll(/<g id="[^"]*" class="(node|edge)">\s*<title>([^<]*)<\/title>/g)) {
  const g = element("g"); g.classList.add(m[1]); g.title = m[2].replace("&#45;&gt;", "->");
  g.querySelector = () => ({ textContent: g.title }); groups.push(g);
}
const rows = [...html.matchAll(/<tr data-step="(\d+)">(.*?)<\/tr>/g)].map(m => {
  const r = element("tr"); r.dataset.step = m[1];
  r.cells = [...m[2].matchAll(/<td[^>]*>(.*?)<\/td>/g)].map(c => ({ innerHTML: c[1],
    textContent: c[1].replace(/<[^>]+>/g, "") }));
  return r; });
const byId = { "steps-data": { textContent: data }, "step-label": element("span"), panel: element("div"),
  step: Object.assign(element("input"), { value: process.argv[3], max: "5" }) };
global.document = { getElementById: id => byId[id], createElement: element,
  querySelectorAll: sel => (sel.startsWith("tr") ? rows : groups) };
eval(script);
const styled = {};
for (const g of groups) { styled[g.title] = g.classList.list().filter(c => c !== "node" && c !== "edge"); }
console.log(JSON.stringify({ styled, label: byId["step-label"].textContent,
  panel: byId.panel.children.map(c => c.innerHTML || c.textContent),
  rows: rows.map(r => r.className) }));
"""


def run_page(tmp_path: Path, call: BackwardCall, step: int) -> dict[str, object]:
    page = tmp_path / "page.html"
    page.write_text(to_html(call, to_svg(call)), encoding="utf-8")
    shim = tmp_path / "dom.js"
    shim.write_text(DOM, encoding="utf-8")
    assert NODE is not None
    done = subprocess.run([NODE, str(shim), str(page), str(step)], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_at_step_two_the_drawing_shows_what_ran_and_the_panel_its_v_and_vj(
    tmp_path: Path, call: BackwardCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    shown = run_page(tmp_path, call, 2)

    styled = shown["styled"]
    assert isinstance(styled, dict)
    assert styled["n0"] == [] and styled["n1"] == ["current"]  # MeanBackward0 ran, MulBackward0 is running
    assert styled["n2"] == styled["n3"] == styled["n4"] == ["pending"]
    assert styled["n1->n2"] == [] and styled["n2->n3"] == ["waiting"]  # vJ sent so far, and not yet
    assert shown["label"] == "after step 2 of 5"
    assert shown["panel"] == [
        "step 2: MulBackward0 #1",
        "created at train.py:4",
        "v in (grad_outputs)",
        "[0.5, 0.5]",
        "vJ out (grad_inputs)",
        "[1.5, 1.5] &rarr; MulBackward0 #2<br>None",
    ]
    assert shown["rows"] == ["done", "current", "", "", ""]


def test_before_backward_every_node_is_pending(
    tmp_path: Path, call: BackwardCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    shown = run_page(tmp_path, call, 0)

    styled = shown["styled"]
    assert isinstance(styled, dict)
    assert all(styled[f"n{i}"] == ["pending"] for i in range(5))
    assert shown["panel"] == ["Before backward: no node has run."]
