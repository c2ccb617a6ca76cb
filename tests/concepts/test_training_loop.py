"""The training loop: each step's loss, .grad, zero_grad() and the update w <- w - lr * w.grad, converging.

Example: examples/11_linear_regression.py (SGD with lr=0.1 on y = 3x + 0.8, 200 steps), traced with the
CLI's default budget of 3 captured calls.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from gradviz.model import Trace
from gradviz.render.ledger import to_ledger_dot, to_ledger_text
from gradviz.render.svg import run_layout

from .views import flat, run_example, run_source, shown, summary_of, svg_of, tui_ledger

EXAMPLE = "11_linear_regression.py"
LR = 0.1


def reference() -> list[dict[str, torch.Tensor]]:
    """Per step, as torch gives it: the loss, w.grad and b.grad, and w and b after optimizer.step()."""
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 20)
    y = 3 * x + 0.8
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=LR)
    steps = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((w * x + b - y) ** 2).mean()
        loss.backward()
        grads = {"w.grad": w.grad.clone(), "b.grad": b.grad.clone()}  # type: ignore[union-attr]
        before = {"w before": w.detach().clone(), "b before": b.detach().clone()}
        optimizer.step()
        steps.append(
            {"loss": loss.detach(), **grads, **before, "w": w.detach().clone(), "b": b.detach().clone()}
        )
    return steps


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE, max_backward=3)


def rows(text: str) -> list[str]:
    return [flat(line) for line in text.splitlines()]


def expected_rows(steps: list[dict[str, torch.Tensor]]) -> list[str]:
    """The ledger's rows for the first step: backward, the two updates, the zeroing before step 2."""
    first = steps[0]
    return [
        f"23 backward #1, loss = {shown(first['loss'])} b.grad None -> {shown(first['b.grad'])}",
        f"23 backward #1 w.grad None -> {shown(first['w.grad'])}",
        f"24 optimizer.step() w {shown(first['w before'])} -> {shown(first['w'])} w <- w - {LR} * w.grad",
        f"24 optimizer.step() b {shown(first['b before'])} -> {shown(first['b'])} b <- b - {LR} * b.grad",
        f"21 optimizer.zero_grad() w.grad {shown(first['w.grad'])} -> None",
    ]


def test_ledger_svg_shows_the_first_step_and_the_update_rule(trace: Trace) -> None:
    steps = reference()

    svg = ET.fromstring(run_layout(to_ledger_dot(trace), "svg"))

    texts = ["".join(text.itertext()) for text in svg.iter("{http://www.w3.org/2000/svg}text")]
    cells = flat(" ".join(texts))
    first = steps[0]
    assert f"backward #1, loss = {shown(first['loss'])} b.grad None -> {shown(first['b.grad'])}" in cells
    assert (
        f"optimizer.step() w {shown(first['w before'])} -> {shown(first['w'])} w <- w - 0.1 * w.grad" in cells
    )


def test_first_call_svg_shows_the_grads_torch_computed(trace: Trace) -> None:
    first = reference()[0]

    svg = svg_of(trace.backwards[0])

    for name in ("w", "b"):
        leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == name)
        assert f"grad: {shown(first[f'{name}.grad'])}" in leaf


async def test_tui_ledger_lists_each_update_and_the_loss_per_step(trace: Trace) -> None:
    steps = reference()

    text = await tui_ledger(trace)

    assert text == to_ledger_text(trace)  # the TUI shows ledger.txt as it is
    shown_rows = rows(text)
    for row in expected_rows(steps):
        assert row in shown_rows
    for k in (1, 2, 3):
        step = steps[k - 1]
        assert f"#{k} {shown(step['loss'])} {shown(step['w'])} {shown(step['b'])}" in shown_rows
    last = steps[-1]
    assert f"#200 {shown(last['loss'])} {shown(last['w'])} {shown(last['b'])}" in shown_rows


def test_summary_says_the_loop_converged_to_torchs_values(trace: Trace) -> None:
    steps = reference()
    first, last = steps[0], steps[-1]
    assert round(last["w"].item(), 3) == 3.0 and round(last["b"].item(), 3) == 0.8

    summary = flat(summary_of(trace))

    w_moved = f"w {shown(first['w before'])} -> {shown(last['w'])}"
    b_moved = f"b {shown(first['b before'])} -> {shown(last['b'])}"
    loss = f"loss {shown(first['loss'])} -> {shown(last['loss'])} over 200 calls"
    assert f"training loop: {loss}; {w_moved}, {b_moved}" in summary
    assert "#4-#200: counted, not captured" in summary
    assert (
        f"w.grad = {shown(steps[1]['w.grad'])} (zeroed at line 21 by optimizer.zero_grad(): was None"
        in summary
    )


MANUAL = """\
import torch

x = torch.tensor([1.0, 2.0, 3.0])
y = 2 * x
w = torch.zeros(1, requires_grad=True)
for _ in range(3):
    loss = ((w * x - y) ** 2).mean()
    loss.backward()
    w.data -= 0.1 * w.grad
    w.grad.zero_()
"""


def test_manual_updates_show_each_step_and_the_last_one_after_the_last_call(tmp_path: Path) -> None:
    # Given: torch's w after each manual update w.data -= lr * w.grad.
    x = torch.tensor([1.0, 2.0, 3.0])
    w = torch.zeros(1, requires_grad=True)
    values = [w.detach().clone()]
    for _ in range(3):
        ((w * x - 2 * x) ** 2).mean().backward()
        w.data -= 0.1 * w.grad  # type: ignore[operator]
        w.grad.zero_()  # type: ignore[union-attr]
        values.append(w.detach().clone())

    trace = run_source(tmp_path, MANUAL, max_backward=3)

    shown_rows = rows(to_ledger_text(trace))
    for before, after in itertools.pairwise(values[:3]):
        assert (
            f"9 w.data -= 0.1 * w.grad w {shown(before)} -> {shown(after)} w <- w - 0.1 * w.grad"
            in shown_rows
        )
    # the script ended right after its last update: the ledger still has it, and the summary ends there.
    assert f"w {shown(values[2])} -> {shown(values[3])} w <- w - 0.1 * w.grad" in " ".join(shown_rows)
    assert f"w {shown(values[0])} -> {shown(values[3])} (ledger.txt)" in summary_of(trace)
