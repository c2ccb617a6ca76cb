"""Accumulation and zeroing: backward adds into a leaf's .grad; zeroing between calls is an event at its line.

Example: examples/04_accumulation.py; the "backward, backward, zero, backward" pattern inline, with each
way of zeroing that tutorials use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .views import flat, run_example, run_source, shown, summary_of, svg_of, tui_at, tui_ledger

#: backward, backward, zero, backward; ZERO is replaced by each way of zeroing (line 7).
SNIPPET = """\
import torch

w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
(w * w).sum().backward()
(w * w).sum().backward()
ZERO
(w * w).sum().backward()
"""
ZERO_LINE = 7
ZEROINGS = {
    "w.grad.zero_()": "[0, 0, 0]",
    "w.grad.data.zero_()": "[0, 0, 0]",
    "w.grad = None": "None",
    "opt.zero_grad()": "None",  # set_to_none=True is the default
}


def reference(zero: str) -> list[torch.Tensor | None]:
    """w.grad before each backward call and at the end, as torch gives them for the snippet."""
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    seen: list[torch.Tensor | None] = []
    for call in range(3):
        if call == 2:
            exec(zero, {"w": w, "opt": opt})
        seen.append(None if w.grad is None else w.grad.clone())
        (w * w).sum().backward()
    return [*seen, w.grad]


@pytest.mark.parametrize("zero", ZEROINGS)
def test_summary_names_the_zeroing_and_its_line(zero: str, tmp_path: Path) -> None:
    # Given: torch's .grad before call 2 and 3, and after call 3.
    before_1, before_2, before_3, after = reference(zero)
    assert before_1 is None and shown(before_3) == ZEROINGS[zero]

    summary = summary_of(run_source(tmp_path, SNIPPET.replace("ZERO", zero)))

    lines = summary.splitlines()
    call_2 = next(k for k, line in enumerate(lines) if "#2 backward" in line)
    call_3 = next(k for k, line in enumerate(lines) if "#3 backward" in line)
    assert f"(was {shown(before_2)}: backward added into it)" in lines[call_2 + 1]
    zeroed = f"zeroed at line {ZERO_LINE} by {zero}: was {shown(before_3)} before this call"
    assert lines[call_3 + 1].strip() == f"w.grad = {shown(after)}  ({zeroed})"


def test_svg_of_call_three_shows_the_zeroing_and_grad_before_zero(tmp_path: Path) -> None:
    _, before_2, before_3, after = reference("w.grad.zero_()")
    trace = run_source(tmp_path, SNIPPET.replace("ZERO", "w.grad.zero_()"))

    second = svg_of(trace.backwards[1])
    third = svg_of(trace.backwards[2])

    leaf = next(lines for key, lines in second.elements.items() if key[0] == "n" and lines[0] == "w")
    assert f"grad before: {shown(before_2)}" in leaf
    assert f"grad: {shown(2 * before_2)} (accumulated)" in [flat(line) for line in leaf]
    leaf = next(lines for key, lines in third.elements.items() if key[0] == "n" and lines[0] == "w")
    assert f"zeroed at line {ZERO_LINE} by w.grad.zero_()" in leaf
    assert f"grad before: {shown(before_3)}" in leaf
    assert f"grad: {shown(after)}" in leaf


async def test_tui_shows_the_zeroing_before_call_three_and_the_ledger(tmp_path: Path) -> None:
    _, before_2, before_3, after = reference("w.grad.zero_()")
    trace = run_source(tmp_path, SNIPPET.replace("ZERO", "w.grad.zero_()"))

    (view,) = await tui_at(trace, call=3, steps=[len(trace.backwards[2].steps)])
    ledger = await tui_ledger(trace)

    text = flat(view.panel)
    before, contribution = shown(before_3), shown(after)
    assert f"Before this call zeroed at line {ZERO_LINE} by w.grad.zero_() grad before: {before}" in text
    assert f"grad before: {before} + this contribution: {contribution} = grad after: {shown(after)}" in text
    rows = [flat(line) for line in ledger.splitlines()]
    summed = shown(2 * before_2)
    assert f"6 backward #2, loss = 14 w.grad {shown(before_2)} -> {summed} (added into .grad)" in rows
    assert f"{ZERO_LINE} w.grad.zero_() w.grad {shown(2 * before_2)} -> {shown(before_3)}" in rows
    assert f"8 backward #3, loss = 14 w.grad {shown(before_3)} -> {shown(after)}" in rows


def test_example_accumulates_three_times_then_clears(tmp_path: Path) -> None:
    # Given: what torch gives for examples/04 (three backward calls with retain_graph, then w.grad = None).
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (w * w).sum()
    grads = []
    for _ in range(3):
        loss.backward(retain_graph=True)
        grads.append(shown(w.grad))

    summary = summary_of(run_example("04_accumulation.py"))

    assert f"w.grad = {grads[2]}  (was {grads[1]}: backward added into it)" in summary
    assert "(zeroed at line 18 by w.grad = None: was None before this call)" in summary
    assert "note, accumulation" in summary
