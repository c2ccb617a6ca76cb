"""The HTML player's ledger panel, in a real headless Chromium, on traces of the examples.

Each page shows, per leaf, ``.grad`` before and after each backward call, the zeroings between calls
at their line, and the optimizer's updates with the loss, revealed with the steps: nothing of the
page's call shows before its leaf's AccumulateGrad runs, and nothing after the call before its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from gradviz.capture.summary import summarize
from gradviz.model import CallError
from gradviz.render.json import from_json
from gradviz.render.pageledger import reveal_steps
from gradviz.render.values import format_value

from .test_html_browser import ROOT, Page, browser  # noqa: F401  (the browser fixture)

#: The ledger as a user sees it: the rows shown, those the current step revealed, the folded rest.
LEDGER = """() => {
  const shown = e => e.offsetParent !== null;
  const cells = r => [...r.cells].map(c => c.textContent);
  const rows = [...document.querySelectorAll("#ledger table.events tr[data-reveal]")];
  const loop = [...document.querySelectorAll("#ledger table.loop tr[data-reveal]")];
  const rest = document.getElementById("ledger-rest");
  return {
    rows: rows.filter(shown).map(cells),
    fresh: rows.filter(r => shown(r) && r.classList.contains("new")).map(cells),
    loop: loop.filter(shown).map(cells),
    rest: rest !== null && shown(rest),
    current: [...document.querySelectorAll(".drawing:not([hidden]) g.current text")].map(t => t.textContent),
    panel: document.getElementById("panel").innerText,
  };
}"""


def trace_example(out: Path, name: str) -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gradviz", "trace", "--quiet", "--out", str(out), "--format", "html"]
    subprocess.run([*command, str(ROOT / "examples" / name)], env=env, check=True, stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="module")
def accumulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trace_example(tmp_path_factory.mktemp("accumulation"), "04_accumulation.py")


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trace_example(tmp_path_factory.mktemp("regression"), "11_linear_regression.py")


def shown(value: torch.Tensor) -> str:
    return format_value(summarize(value))


def leaf_step(folder: Path, call: int, leaf: str) -> int:
    """The step of call `call` at which autograd ran the AccumulateGrad of `leaf` (from trace.json)."""
    recorded = json.loads((folder / "trace.json").read_text(encoding="utf-8"))["backwards"][call - 1]
    nodes = recorded["nodes"]
    return next(
        number
        for number, step in enumerate(recorded["steps"], start=1)
        if nodes[step["node"]]["name"] == "AccumulateGrad" and nodes[step["node"]]["tensor"]["label"] == leaf
    )


def test_accumulation_shows_grad_adding_up_only_when_the_leaf_runs(
    browser: Any,  # noqa: F811
    accumulation: Path,
    tmp_path: Path,
) -> None:
    # Given torch's own w.grad after each of the example's backward calls (d(w*w).sum()/dw = 2w)
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    grads = []
    for _ in range(2):
        (w * w).sum().backward()
        grads.append(w.grad.clone())  # type: ignore[union-attr]
    page = Page(browser, accumulation / "backward-002.html")
    step = leaf_step(accumulation, 2, "w")

    # When the page of call 2 opens, then steps up to just before w's AccumulateGrad, then runs it
    start = page.page.evaluate(LEDGER)
    for _ in range(step - 1):
        page.page.keyboard.press("n")
    before = page.page.evaluate(LEDGER)
    page.page.keyboard.press("n")
    after = page.page.evaluate(LEDGER)
    page.page.screenshot(path=str(tmp_path / "ledger-accumulation.png"), full_page=True)

    # Then call 1's row shows from the start, call 2's only once w's AccumulateGrad ran, as an addition
    loss = shown((w * w).sum())
    first = ["14", f"backward #1, loss = {loss}", "w.grad", f"None -> {shown(grads[0])}"]
    assert start["rows"] == [first] and before["rows"] == [first]
    added = f"{shown(grads[0])} -> {shown(grads[1])}  (added into .grad)"
    assert after["rows"] == [first, ["14", f"backward #2, loss = {loss}", "w.grad", added]]
    assert after["fresh"] == [after["rows"][1]] and "AccumulateGrad" in after["current"]
    # and call 3 and what followed stay folded away until then
    assert not start["rest"] and not before["rest"]
    assert page.errors == []


def test_the_linear_regression_shows_the_zeroing_the_update_and_the_loss_in_time(
    browser: Any,  # noqa: F811
    regression: Path,
    tmp_path: Path,
) -> None:
    # Given torch running the example's first two steps itself
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 20)
    y = 3 * x + 0.8
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=0.1)
    seen = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = ((w * x + b - y) ** 2).mean()
        loss.backward()
        grads = (w.grad.clone(), b.grad.clone())  # type: ignore[union-attr]
        before = (w.detach().clone(), b.detach().clone())
        optimizer.step()
        seen.append((loss.detach(), grads, before, (w.detach().clone(), b.detach().clone())))
    (loss1, (w_grad1, b_grad1), _, (w1, b1)), (loss2, (w_grad2, b_grad2), _, (w2, b2)) = seen
    page = Page(browser, regression / "backward-002.html")

    # When the page of call 2 opens
    start = page.page.evaluate(LEDGER)

    # Then call 1, its update and the zeroing before call 2 are there, at their lines, and nothing of call 2
    assert start["rows"] == [
        ["23", f"backward #1, loss = {shown(loss1)}", "b.grad", f"None -> {shown(b_grad1)}"],
        ["23", "backward #1", "w.grad", f"None -> {shown(w_grad1)}"],
        ["24", "optimizer.step()", "w", f"[0] -> {shown(w1)}  w <- w - 0.1 * w.grad"],
        ["24", "optimizer.step()", "b", f"[0] -> {shown(b1)}  b <- b - 0.1 * b.grad"],
        ["21", "optimizer.zero_grad()", "w.grad", f"{shown(w_grad1)} -> None"],
        ["21", "optimizer.zero_grad()", "b.grad", f"{shown(b_grad1)} -> None"],
    ]
    assert start["loop"] == [["#1", shown(loss1), shown(w1), shown(b1)]] and not start["rest"]

    # When stepping until b's AccumulateGrad has run: b.grad is filled, w.grad not yet
    for _ in range(leaf_step(regression, 2, "b")):
        page.page.keyboard.press("n")
    at_b = page.page.evaluate(LEDGER)
    assert at_b["fresh"] == [
        ["23", f"backward #2, loss = {shown(loss2)}", "b.grad", f"None -> {shown(b_grad2)}"]
    ]
    assert len(at_b["rows"]) == 7
    # and the step's panel beside the drawing says so too, without scrolling down to the ledger
    assert f"line 23, backward #2, loss = {shown(loss2)}: b.grad None -> {shown(b_grad2)}" in at_b["panel"]
    assert "w.grad" not in at_b["panel"]

    # When the call ends: w.grad, then optimizer.step() with the rule and the loop row of call 2
    page.page.keyboard.press("End")
    end = page.page.evaluate(LEDGER)
    page.page.screenshot(path=str(tmp_path / "ledger-regression.png"), full_page=True)
    assert ["23", "backward #2", "w.grad", f"None -> {shown(w_grad2)}"] in end["rows"]
    assert ["24", "optimizer.step()", "w", f"{shown(w1)} -> {shown(w2)}  w <- w - 0.1 * w.grad"] in end[
        "fresh"
    ]
    assert end["loop"][-1] == ["#2", shown(loss2), shown(w2), shown(b2)]
    # and the rest of the run (calls 3 onwards) is offered, folded
    assert end["rest"]
    assert page.errors == []


def test_no_row_of_a_later_call_is_revealed_before_the_end(regression: Path) -> None:
    # Given the trace of 200 training steps, 3 captured
    trace = from_json((regression / "trace.json").read_bytes())
    call = trace.backwards[1]
    revealed = reveal_steps(call, trace.ledger)
    # Then rows of calls after 2 are folded (None), and no row shows after the call's last step
    later = [row for row, step in revealed if step is None]
    calls = [
        int(row[1].split("#")[1].split()[0].rstrip(",")) for row in later if row[1].startswith("backward #")
    ]
    assert calls and min(calls) == 3
    assert all(step is None or 0 <= step <= len(call.steps) for _, step in revealed)
    assert sum(1 for _, step in revealed if step == 0) == 6


def test_a_call_that_failed_before_its_leaves_shows_their_rows_at_its_last_step(regression: Path) -> None:
    # Given call 2 cut before b's AccumulateGrad ran, as if it had raised there
    trace = from_json((regression / "trace.json").read_bytes())
    whole = trace.backwards[1]
    cut = leaf_step(regression, 2, "b") - 1
    failed = replace(
        whole, steps=whole.steps[:cut], error=CallError("RuntimeError", "boom", whole.steps[cut].node)
    )
    # Then the call's own rows and what followed show at the page's last step, never past it
    steps = [step for _, step in reveal_steps(failed, trace.ledger) if step is not None]
    assert max(steps) == cut == len(failed.steps)
