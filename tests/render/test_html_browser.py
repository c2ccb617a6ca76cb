"""The HTML player in a real headless Chromium (Playwright pointed at the system's chromium).

In CI (``CI=true``) these tests never skip: a missing browser fails them. Elsewhere they fail too,
with the line to install it, unless ``GRADVIZ_NO_BROWSER=1`` opts out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gradviz.model import BackwardCall, Edge, Graph, ModuleInfo, Node, Root, Step
from gradviz.render.html import to_html
from gradviz.render.pagedata import other_views
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions
from gradviz.render.svg import to_svg

ROOT = Path(__file__).resolve().parents[2]
PURE = Path(sys.executable).parent / "graphviz-pure"
CHROMIUM = os.environ.get("GRADVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL = "apt-get install -y chromium; pip install -e '.[dev]' (playwright)"


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM}"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("CI") != "true" and os.environ.get("GRADVIZ_NO_BROWSER") == "1":
            pytest.skip(f"{missing} (GRADVIZ_NO_BROWSER=1)")
        pytest.fail(f"the HTML player test needs a browser: {missing}; {INSTALL}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """One loaded page at projector width, with every console error and page error collected."""

    def __init__(self, browser: Any, path: Path, *, clock: bool = False) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        if clock:
            self.page.clock.install()
        self.page.goto(path.as_uri())

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate(STATE)
        return state


#: What a user sees, read from the live page.
STATE = """() => {
  const view = document.querySelector(".drawing:not([hidden])");
  const current = [...document.querySelectorAll(".drawing:not([hidden]) g.current")];
  const rows = [...document.querySelectorAll("tr[data-step]")].filter(r => r.offsetParent !== null);
  const port = document.getElementById("viewport"), vp = port.getBoundingClientRect();
  const titles = sel => [...document.querySelectorAll(sel)].map(g => g.querySelector("title").textContent);
  const box = current.length ? current[0].getBoundingClientRect() : null;
  const texts = current.length ? [...current[0].querySelectorAll("text")] : [];
  const sizes = texts.map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);
  const svg = view && view.querySelector("svg");
  return {
    view: view && view.dataset.view,
    current: current.map(g => g.querySelector("title").textContent),
    currentText: texts.length ? texts[0].textContent : null,
    pending: [...document.querySelectorAll(".drawing:not([hidden]) g.node.pending")].length,
    rows: rows.map(r => r.cells[1].textContent),
    label: document.getElementById("step-label").textContent,
    panel: document.getElementById("panel").innerText,
    line: (document.querySelector(".source .line.here") || {}).dataset?.loc || null,
    leavesShown: [...document.querySelectorAll(".at-end")].some(e => e.offsetParent !== null),
    inView: box !== null && box.left >= vp.left && box.right <= vp.right && box.top >= vp.top
      && box.bottom <= vp.bottom,
    textPx: sizes.length ? Math.min(...sizes) : null,
    svgWidth: svg ? svg.getBoundingClientRect().width : null,
    viewport: [port.clientWidth, port.clientHeight],
    scroll: [port.scrollLeft, port.scrollTop],
    valuesShown: [...document.querySelectorAll(".drawing:not([hidden]) g.node text")]
      .filter(t => t.textContent.startsWith("v in") && getComputedStyle(t).visibility === "visible").length,
    focus: titles(".drawing:not([hidden]) g.focus"),
  };
}"""


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `gradviz trace` writes for examples/01_autograd_basics.py (html and trace.json)."""
    out = tmp_path_factory.mktemp("trace")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gradviz", "trace", "--out", str(out), "--format", "html"]
    subprocess.run([*command, str(ROOT / "examples" / "01_autograd_basics.py")], env=env, check=True)
    return out


def test_next_three_times_highlights_the_third_node_and_reveals_three_rows(
    browser: Any, traced: Path, tmp_path: Path
) -> None:
    # Given the page gradviz trace wrote, and the steps torch ran as trace.json records them
    recorded = json.loads((traced / "trace.json").read_text(encoding="utf-8"))["backwards"][0]
    nodes, steps = recorded["nodes"], recorded["steps"]
    page = Page(browser, traced / "backward-001.html")

    # When it opens, then after next is pressed three times
    start = page.state()
    for _ in range(3):
        page.page.keyboard.press("n")
    after = page.state()
    page.page.screenshot(path=str(tmp_path / "player-step3.png"))

    # Then it opened before backward with nothing revealed, and now shows exactly the third step
    assert start["label"].startswith("before backward") and start["rows"] == [] and start["current"] == []
    assert start["pending"] == len(nodes) and not start["leavesShown"]
    assert start["valuesShown"] == 0  # no node shows the v it will get before it runs
    third = nodes[steps[2]["node"]]
    assert after["current"] == [f"n{third['id']}"] and after["currentText"] == third["name"]
    assert after["rows"] == [f"{nodes[step['node']]['name']} #{step['node']}" for step in steps[:3]]
    assert after["label"] == f"step 3 of {len(steps)}"
    assert after["panel"].startswith(f"step 3: {third['name']} #{third['id']}")
    assert after["line"] == f"{third['location']['file']}:{third['location']['line']}"
    assert after["inView"] and not after["leavesShown"]
    assert after["valuesShown"] == 3
    assert after["textPx"] >= 14  # every line of the node, at 1280 px wide
    assert page.errors == []


def test_back_home_end_and_the_buttons_move_through_the_steps(browser: Any, traced: Path) -> None:
    page = Page(browser, traced / "backward-001.html")
    keys = page.page.keyboard

    keys.press("End")
    at_end = page.state()
    keys.press("ArrowLeft")
    back = page.state()
    keys.press("Home")
    home = page.state()
    page.page.click("button[data-action=next]")
    button = page.state()

    total = len(at_end["rows"])
    assert at_end["label"] == f"step {total} of {total}" and at_end["leavesShown"]
    assert len(back["rows"]) == total - 1 and not back["leavesShown"]
    assert home["rows"] == [] and home["current"] == []
    assert button["rows"] == at_end["rows"][:1]
    assert page.errors == []


def test_play_steps_on_its_own_until_the_end_and_space_pauses(browser: Any, traced: Path) -> None:
    # Given the page with the browser's clock under the test's control
    page = Page(browser, traced / "backward-001.html", clock=True)

    # When space starts playing and two steps' worth of time pass, then space pauses
    page.page.keyboard.press(" ")
    page.page.clock.run_for(2500)
    playing = page.state()
    page.page.keyboard.press(" ")
    page.page.clock.run_for(5000)
    paused = page.state()

    assert len(playing["rows"]) == 2
    assert paused["rows"] == playing["rows"]
    assert page.errors == []


def test_zoom_buttons_fit_and_wheel_change_the_drawing_size(browser: Any, traced: Path) -> None:
    page = Page(browser, traced / "backward-001.html")

    start = page.state()
    page.page.click("button[data-action=zoom-in]")
    bigger = page.state()
    page.page.click("button[data-action=fit]")
    fitted = page.state()
    page.page.mouse.move(300, 500)
    page.page.mouse.wheel(0, -400)
    wheeled = page.state()

    assert bigger["svgWidth"] == pytest.approx(start["svgWidth"] * 1.25, rel=0.01)
    assert fitted["svgWidth"] <= fitted["viewport"][0] + 1
    assert wheeled["svgWidth"] > fitted["svgWidth"]
    assert page.errors == []


def test_drag_pans_the_drawing(browser: Any, traced: Path) -> None:
    page = Page(browser, traced / "backward-001.html")
    page.page.click("button[data-action=zoom-in]")
    page.page.click("button[data-action=zoom-in]")
    before = page.state()

    page.page.mouse.move(500, 500)
    page.page.mouse.down()
    page.page.mouse.move(400, 420, steps=5)
    page.page.mouse.up()
    after = page.state()

    assert after["scroll"][0] == pytest.approx(before["scroll"][0] + 100, abs=2)
    assert after["scroll"][1] == pytest.approx(before["scroll"][1] + 80, abs=2)


def _with_modules(call: BackwardCall) -> BackwardCall:
    """The tutorial call as if ``y * y * 3`` ran in module ``block`` and ``x ** 2`` in ``stem``."""
    modules = {1: "block", 2: "block", 3: "stem"}
    nodes = tuple(replace(node, module=modules.get(node.id)) for node in call.graph.nodes)
    infos = (ModuleInfo("block", "Square"), ModuleInfo("stem", "Pow"))
    graph: Graph = replace(call.graph, nodes=nodes, modules=infos)
    return replace(call, graph=graph)


def _write(call: BackwardCall, path: Path, options: RenderOptions = DEFAULT_OPTIONS) -> Path:
    others = [(to_svg(call, options=other), other) for other in other_views(call, options)]
    path.write_text(to_html(call, to_svg(call, options=options), options=options, others=others), "utf-8")
    return path


def test_a_module_box_expands_to_its_nodes_and_collapses_back(
    browser: Any, call: BackwardCall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a page with the full drawing and its collapsed view (module boxes)
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))
    page = Page(browser, _write(_with_modules(call), tmp_path / "modules.html"))

    # When modules are collapsed, the box of "block" is clicked, then one of its nodes
    page.page.keyboard.press("c")
    collapsed = page.state()
    page.page.click(".drawing[data-view=depth1] g.node:has(text:text-is('block'))")
    expanded = page.state()
    page.page.click(".drawing[data-view=full] g.node:has(title:text-is('n3'))")
    back = page.state()

    # Then the box stands for its two MulBackward0 nodes, which the expanded view marks
    assert collapsed["view"] == "depth1"
    assert expanded["view"] == "full" and sorted(expanded["focus"]) == ["n1", "n2"]
    assert back["view"] == "depth1" and len(back["focus"]) == 1
    assert page.errors == []


def _two_stacks(layers: int) -> BackwardCall:
    """``loss = decoder(encoder(x))``: `layers` distinct blocks of Addmm, T and ReLU in each of two stacks."""
    nodes = [Node(0, "SumBackward0")]
    infos = [ModuleInfo("encoder", "Stack"), ModuleInfo("decoder", "Stack")]
    for block in range(2 * layers):
        stack = "decoder" if block < layers else "encoder"
        path = f"{stack}.{block % layers}"
        infos.append(ModuleInfo(path, f"Block{block}"))
        for name in ("ReluBackward0", "AddmmBackward0", "TBackward0"):
            nodes.append(Node(len(nodes), name, module=path))
    nodes.append(Node(len(nodes), "AccumulateGrad"))
    edges = tuple(Edge(i, i + 1) for i in range(len(nodes) - 1))
    graph = Graph(tuple(nodes), edges, (Root(0, "loss"),), modules=tuple(infos))
    return BackwardCall(1, "backward", None, graph)


def test_a_big_graph_expands_a_module_one_depth_deeper_and_back(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 302 nodes: drawn collapsed (encoder, decoder), the page also holds depth 2 (their blocks)
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))
    big = _two_stacks(50)
    page = Page(browser, _write(big, tmp_path / "big.html"))

    # When the decoder box is clicked, then one of its blocks
    start = page.state()
    page.page.click(".drawing[data-view=depth1] g.node:has(text:text-is('decoder'))")
    expanded = page.state()
    page.page.click(".drawing[data-view=depth2] g.node.focus >> nth=3")
    back = page.state()

    # Then the decoder's 50 blocks are marked in the deeper view, and the decoder again when back
    assert start["view"] == "depth1" and 'data-view="full"' not in page.page.content()
    assert expanded["view"] == "depth2" and len(expanded["focus"]) == 50
    assert back["view"] == "depth1" and len(back["focus"]) == 1
    assert page.errors == []


def test_a_failed_call_shows_where_it_failed_at_its_last_step(
    browser: Any, build: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))
    failed = build.failed_call()
    path = tmp_path / "failed.html"
    path.write_text(to_html(failed, to_svg(failed)), encoding="utf-8")
    page = Page(browser, path)
    row = "() => document.querySelector('#steps tr.failed').offsetParent !== null"

    before = page.page.evaluate(row)
    page.page.keyboard.press("End")
    end = page.state()
    raised = page.page.evaluate("() => document.querySelector('g.raised-here title').textContent")

    assert "This call failed" in end["panel"] and "RuntimeError" in end["panel"]
    assert raised == "n3"  # PowBackward0, where the engine raised
    assert not before and page.page.evaluate(row)  # the failure row is revealed with the last step
    assert page.errors == []


def test_a_page_without_drawing_or_steps_still_steps_without_errors(
    browser: Any, call: BackwardCall, tmp_path: Path
) -> None:
    # Given a page written when no layout engine ran, and a call that recorded no step
    no_drawing, no_steps = tmp_path / "no-drawing.html", tmp_path / "no-steps.html"
    no_drawing.write_text(to_html(call, None), encoding="utf-8")
    no_steps.write_text(to_html(replace(call, steps=()), None), encoding="utf-8")

    # When each is stepped to the end
    shown = []
    for path in (no_drawing, no_steps):
        page = Page(browser, path)
        for key in ("n", "n", "End", "p", "+", "f", " "):
            page.page.keyboard.press(key)
        shown.append((page.state(), page.errors))

    # Then the table still follows the steps, and nothing fails in the page
    assert len(shown[0][0]["rows"]) == len(call.steps) - 1 and shown[0][1] == []
    assert shown[1][0]["rows"] == [] and shown[1][0]["label"] == "before backward (0 steps)"
    assert shown[1][1] == []


def test_a_call_of_one_step_counts_it_in_the_singular(
    browser: Any, call: BackwardCall, tmp_path: Path
) -> None:
    # Given a call in which autograd ran one node (a second backward that failed after its first node)
    path = tmp_path / "one-step.html"
    path.write_text(to_html(replace(call, steps=call.steps[:1]), None), encoding="utf-8")

    # When the page opens
    page = Page(browser, path)

    # Then the label before backward says "1 step"
    assert page.state()["label"] == "before backward (1 step)"
    assert page.errors == []


def test_the_running_node_stays_in_view_down_a_long_chain(
    browser: Any, build: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 60-node chain, drawn in full: far taller than the window
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))
    graph = build.chain_graph(60)
    steps = tuple(Step(node.id, (build.val(1.0),), (build.val(1.0),)) for node in graph.nodes)
    page = Page(
        browser, _write(BackwardCall(1, "backward", None, graph, steps=steps), tmp_path / "chain.html")
    )

    # When it goes to the last step, then back 30 steps
    page.page.keyboard.press("End")
    end = page.state()
    for _ in range(30):
        page.page.keyboard.press("ArrowLeft")
    middle = page.state()

    # Then each time the running node is on screen, and the drawing was scrolled to it
    assert end["current"] == ["n60"] and end["inView"] and end["scroll"][1] > 0
    assert middle["current"] == ["n30"] and middle["inView"]
    assert page.errors == []
