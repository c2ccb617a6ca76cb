"""The HTML player's Jacobians (each step's local J, the whole call's dy/dx, v and v J) in a real browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .test_html_browser import ROOT, Page, browser  # noqa: F401  (browser: the shared fixture)

torch = pytest.importorskip("torch")

#: Whether any text of the whole-call panel in the drawing is visible.
PANEL_VISIBLE = """() => [...document.querySelectorAll(".drawing:not([hidden]) g.node")]
  .filter(g => g.querySelector("title").textContent === "jacobian")
  .flatMap(g => [...g.querySelectorAll("text")])
  .some(t => getComputedStyle(t).visibility === "visible")"""


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `gradviz trace` writes for examples/10_vector_jacobian.py (html and trace.json)."""
    out = tmp_path_factory.mktemp("vjp")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gradviz", "trace", "--out", str(out), "--format", "html"]
    subprocess.run([*command, str(ROOT / "examples" / "10_vector_jacobian.py")], env=env, check=True)
    return out


def test_the_panel_shows_local_j_at_each_step_and_the_whole_call_at_the_end(
    browser: Any,  # noqa: F811
    example: Path,
) -> None:
    # Given: the page, and torch's own Jacobian and x.grad for the example's function.
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.stack([t[0] * t[1], t[1] ** 2]), x)
    v = torch.tensor([1.0, 10.0])
    grad = (v @ jacobian).tolist()
    steps = json.loads((example / "trace.json").read_text(encoding="utf-8"))["backwards"][0]["steps"]
    page = Page(browser, example / "backward-001.html")

    # When: before backward, after its first step (StackBackward0), and at the end.
    start_visible = page.page.evaluate(PANEL_VISIBLE)
    page.page.keyboard.press("n")
    first = page.state()["panel"]
    page.page.keyboard.press("End")
    end = page.state()["panel"]
    end_visible = page.page.evaluate(PANEL_VISIBLE)

    # Then: the answer stays hidden until the last step; step 1 shows its local J and saved dim;
    # the end shows dy/dx row by row and v J equal to x.grad.
    assert not start_visible and end_visible
    assert "StackBackward0" in first and "local J" in first and "J to input 0 (MulBackward0)" in first
    assert "dim: 0" in first and "not retained" in first
    assert len(steps) == 7 and "vector-Jacobian product" in end
    assert "[[3, 2]," in end and "[0, 6]]" in end and jacobian.tolist() == [[3.0, 2.0], [0.0, 6.0]]
    assert f"=  [{grad[0]:g}, {grad[1]:g}]" in end
    assert page.errors == []
