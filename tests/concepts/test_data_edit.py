""".data edits: harmful when backward reads a saved copy of the edited tensor, harmless when it reads none.

Example: examples/03_data_edit.py (y = (w * w).sum(), then w.data *= 10: MulBackward0 saved w); the
harmless case inline (y = 2 * x saves only the constant 2).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, run_source, shown, summary_of, svg_of, tui_at

HARMLESS = """\
import torch

x = torch.tensor([1.0, 2.0], requires_grad=True)
y = (2 * x).sum()
x.data *= 100
y.backward()
"""


def harmful_reference() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """w as forward saw it, w.grad with the edit (what torch gives), and w.grad without it."""
    w = torch.tensor([2.0, 3.0], requires_grad=True)
    forward = w.detach().clone()
    y = (w * w).sum()
    w.data *= 10
    y.backward()
    assert w.grad is not None
    unedited = torch.tensor([2.0, 3.0], requires_grad=True)
    (unedited * unedited).sum().backward()
    return forward, w.grad, unedited.grad  # type: ignore[return-value]


@pytest.fixture(scope="module")
def harmful() -> Trace:
    return run_example("03_data_edit.py")


def test_svg_node_that_read_the_edit_says_what_forward_and_backward_used(harmful: Trace) -> None:
    forward, grad, unedited_grad = harmful_reference()
    edited = forward * 10

    svg = svg_of(harmful.backwards[0])

    mul = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "MulBackward0")
    assert f".data edit of other, self: forward used {shown(forward)}, backward used {shown(edited)}" in mul
    # Each input's vJ without the edit is the other factor as forward saw it; together torch's unedited grad.
    assert f"without the edit it would send {shown(forward)} and {shown(forward)}" in mul
    assert torch.equal(forward + forward, unedited_grad)
    leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "w")
    assert f"grad: {shown(grad)}" in leaf
    assert "warning (red, bold): probably a bug in your code; the summary says why" in svg.elements["legend"]


def test_svg_of_a_harmless_edit_draws_a_note_and_claims_no_changed_gradient(tmp_path: Path) -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (2 * x).sum()
    x.data *= 100
    y.backward()

    svg = svg_of(run_source(tmp_path, HARMLESS).backwards[0])

    (overlay,) = [lines for key, lines in svg.elements.items() if key.startswith("o")]
    assert overlay[:3] == [
        ".data edit at line 5: _version stays 0",
        "harmless: backward reads no saved copy of it,",
        "so the gradient is unchanged",
    ]
    leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "x")
    assert f"grad: {shown(x.grad)}" in leaf  # [2, 2], as if nothing had been edited
    legend = " ".join(svg.elements["legend"])
    assert "warning" not in legend and "note (grey, dashed)" in legend
    assert not any("forward used" in line for lines in svg.elements.values() for line in lines)


async def test_tui_shows_the_edit_in_the_steps_that_concern_it(harmful: Trace, tmp_path: Path) -> None:
    forward, _, _ = harmful_reference()
    harmless = run_source(tmp_path, HARMLESS)

    (mul,) = await tui_at(harmful, call=1, steps=[2])
    (leaf,) = await tui_at(harmless, call=1, steps=[3])

    text = flat(mul.panel)
    assert f"forward used {shown(forward)}, backward used {shown(forward * 10)}" in text
    assert "Not recorded by autograd data_edit: x: .data edit at line 5: _version stays 0" in flat(leaf.panel)
    assert "harmless: backward reads no saved copy of it, so the gradient is unchanged" in flat(leaf.panel)


def test_summary_warns_of_the_harmful_edit_and_notes_the_harmless_one(harmful: Trace, tmp_path: Path) -> None:
    forward, grad, _ = harmful_reference()
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (2 * x).sum()
    x.data *= 100
    y.backward()

    warned = flat(summary_of(harmful))
    noted = summary_of(run_source(tmp_path, HARMLESS))

    assert f"w.grad = {shown(grad)}" in warned
    assert "! .data edit (03_data_edit.py:14): w was changed through .data" in warned
    assert f"forward used {shown(forward)}, backward used {shown(forward * 10)}" in warned
    assert f"x.grad = {shown(x.grad)}\n" in noted
    assert (
        "x.data edited at line 5: harmless, backward reads no saved copy of it (gradient unchanged)" in noted
    )
    assert "!" not in noted
