"""The docs site's figures in a real headless Chromium at 1280 px wide: node text readable in the page.

The site is built once for the module with `mkdocs build --strict` into a temporary folder; the figures
it traces are cached in build/docs-figures/, so CI's own site build after the tests reuses them. The
browser rule is the HTML player test's: in CI a missing chromium fails, elsewhere
``GRADVIZ_NO_BROWSER=1`` opts out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GRADVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: The smallest node text, in CSS pixels, that reads at arm's length; QA measured 5 px before.
READABLE_PX = 11

#: Each figure in the page: its size as shown and as drawn, and where a click on it goes.
FIGURES = """() => [...document.querySelectorAll('.md-content img')].map(img => ({
  src: img.currentSrc,
  shown: img.getBoundingClientRect().width,
  natural: img.naturalWidth,
  link: img.closest('a') ? img.closest('a').href : null,
}))"""
#: The smallest node text of an SVG opened on its own, at its natural size, in CSS pixels.
SMALLEST_TEXT = """() => Math.min(...[...document.querySelectorAll('svg g.node text')]
  .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = "the playwright package is not installed" if sync_playwright is None else None
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM}"
    if missing is not None:
        if os.environ.get("CI") != "true" and os.environ.get("GRADVIZ_NO_BROWSER") == "1":
            pytest.skip(f"{missing} (GRADVIZ_NO_BROWSER=1)")
        pytest.fail(f"the docs figure test needs a browser: {missing}", pytrace=False)
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site, built as CI builds it (every figure traced from examples/, or reused)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return out


def figures_on(browser: Any, page_path: Path) -> list[dict[str, Any]]:
    """Every figure of a page at 1280 x 800, with the smallest node text as the reader sees it."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(page_path.as_uri())
    page.wait_for_load_state("load")
    figures: list[dict[str, Any]] = page.evaluate(FIGURES)
    for figure in figures:
        page.goto(figure["src"])
        figure["text_px"] = page.evaluate(SMALLEST_TEXT) * figure["shown"] / figure["natural"]
    page.close()
    return figures


@pytest.mark.parametrize("concept", ["accumulation", "data", "detach", "vector-jacobian"])
def test_concept_figures_read_at_page_width_and_open_in_full(browser: Any, site: Path, concept: str) -> None:
    # When: the concept page is read in a 1280 px wide window
    figures = figures_on(browser, site / "concepts" / concept / "index.html")

    # Then: its drawings (not only its ledger) are there, each node's text is at least 11 px as shown,
    # and a click on a drawing opens the SVG itself
    drawings = [f for f in figures if "/backward-" in f["src"]]
    assert drawings, figures
    for figure in figures:
        assert figure["text_px"] >= READABLE_PX, figure
        assert figure["link"] == figure["src"], figure


def test_the_legend_is_left_out_of_concept_figures_and_drawn_whole_on_its_own_page(site: Path) -> None:
    # Given: a concept figure and the legend page's figure
    drawing = (site / "figures" / "accumulation" / "backward-003.svg").read_text(encoding="utf-8")
    legend = (site / "figures" / "legend.svg").read_text(encoding="utf-8")
    page = (site / "legend" / "index.html").read_text(encoding="utf-8")

    # Then: the drawing has no legend; the legend lists every kind, the two edges drawn as edges
    assert "<title>legend</title>" not in drawing and "SumBackward0" in drawing
    assert "<title>legend</title>" in legend and "figures/legend.svg" in page
    for kind in ("root", "leaf", "data_edit", "warning", "requires_grad_off"):
        assert f">{kind}</text>" in legend, kind
    assert legend.count('class="edge"') == 2


#: The player in the page's iframe: its drawing pane, and the current node's box and smallest text.
PLAYER = """() => {
  const port = document.getElementById('viewport').getBoundingClientRect();
  const current = document.querySelector('.drawing:not([hidden]) g.current');
  const box = current.getBoundingClientRect();
  const sizes = [...current.querySelectorAll('text')]
    .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);
  return {
    pane: port.width,
    inPane: box.left >= port.left && box.right <= port.right
      && box.top >= port.top && box.bottom <= port.bottom,
    inFrame: box.left >= 0 && box.right <= innerWidth && box.top >= 0 && box.bottom <= innerHeight,
    textPx: Math.min(...sizes),
  };
}"""


def test_the_embedded_player_stacks_its_panes_and_keeps_the_current_node_in_view(
    browser: Any, site: Path
) -> None:
    # Given: the accumulation page at 1280 x 800, scrolled to its player
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto((site / "concepts" / "accumulation" / "index.html").as_uri())
    frame_element = page.locator("iframe.gradviz-player")
    frame_element.scroll_into_view_if_needed()
    frame = frame_element.element_handle().content_frame()
    frame.wait_for_selector("button[data-action=next]")

    # When: next, twice
    frame.click("button[data-action=next]")
    frame.click("button[data-action=next]")
    shown = frame.evaluate(PLAYER)
    page.close()

    # Then: the drawing has the iframe's width (not a third of it), and the current node is whole in
    # it, at projector size
    assert shown["pane"] >= 600, shown
    assert shown["inPane"] and shown["inFrame"], shown
    assert shown["textPx"] >= 14, shown
