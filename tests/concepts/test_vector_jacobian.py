"""Non-scalar backward: y.backward(v) computes v^T J, with J = dy/dx the whole Jacobian (not J v).

Example: examples/10_vector_jacobian.py (y = stack([x0 * x1, x1 ** 2]), v = [1, 10]: J is not diagonal).
"""

from __future__ import annotations

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, shown, summary_of, svg_of, tui_at

EXAMPLE = "10_vector_jacobian.py"


def f(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[0] * x[1], x[1] ** 2])


def reference() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """J = dy/dx from torch.autograd.functional, v, and the x.grad that y.backward(v) gives."""
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    v = torch.tensor([1.0, 10.0])
    jacobian = torch.autograd.functional.jacobian(f, x.detach())
    f(x).backward(v)
    assert x.grad is not None and torch.equal(v @ jacobian, x.grad)
    assert not torch.equal(jacobian @ v, x.grad)  # the example is chosen so that J v differs
    return jacobian, v, x.grad


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE)


def whole_call_is_torchs(text: str) -> None:
    jacobian, v, grad = reference()
    assert "vector-Jacobian product v^T J" in text
    assert "x: J = dy/dx is 2 x 2" in text
    # v as a row, J row by row, then v J, all in one line of the layout (J's second row follows).
    assert f"[{shown(v)}] @ [{shown(jacobian[0])}, = {shown(grad)}" in text
    assert f"{shown(jacobian[1])}]" in text
    assert "v J is what this call added into x.grad" in text
    assert "(the comment says Jacobian-vector; backward computes the vector-Jacobian product)" in text


def test_svg_whole_call_panel_is_v_times_torchs_jacobian(trace: Trace) -> None:
    svg = svg_of(trace.backwards[0])

    whole_call_is_torchs(flat(" ".join(svg.elements["jacobian"])))
    _, v, grad = reference()
    assert svg.elements["r0"] == ["backward() from y", f"v = {shown(v)}"]
    leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "x")
    assert f"grad: {shown(grad)}" in leaf


def test_svg_local_jacobians_are_torchs(trace: Trace) -> None:
    # Given: d(x0 * x1)/dx0 = x1 and d(x0 * x1)/dx1 = x0, d(x1 ** 2)/dx1 = 2 x1, from torch.
    x = torch.tensor([2.0, 3.0])
    mul = torch.autograd.functional.jacobian(lambda a, b: a * b, (x[0], x[1]))
    power = torch.autograd.functional.jacobian(lambda b: b**2, x[1])

    svg = svg_of(trace.backwards[0])

    mul_node = next(
        lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "MulBackward0"
    )
    # Then: both inputs come from a SelectBackward0 and have no name: each J says its input's position
    assert [line for line in mul_node if line.startswith("J to")] == [
        f"J to input 0 (SelectBackward0) = [[{shown(mul[0])}]]",
        f"J to input 1 (SelectBackward0) = [[{shown(mul[1])}]]",
    ]
    pow_node = next(
        lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "PowBackward0"
    )
    assert f"J to input 0 (SelectBackward0) = [[{shown(power)}]]" in pow_node


async def test_tui_last_step_shows_the_whole_call(trace: Trace) -> None:
    steps = len(trace.backwards[0].steps)

    start, last = await tui_at(trace, call=1, steps=[0, steps])

    _, v, grad = reference()
    assert f"with v = {shown(v)}" in flat(start.panel)
    assert f"None + {shown(grad)} = {shown(grad)}" in flat(last.panel)
    # At 80x24 the pane is too narrow for v @ J = v J side by side: the three are one under the other.
    jacobian, _, _ = reference()
    text = flat(last.panel)
    assert "vector-Jacobian product v^T J" in text and "x: J = dy/dx is 2 x 2" in text
    stacked = f"v (row) = [{shown(v)}] J = dy/dx = [{shown(jacobian[0])}, {shown(jacobian[1])}]"
    assert f"{stacked} v J = v @ J = {shown(grad)}" in text
    assert "v J is what this call added into x.grad" in text
    assert "(the comment says Jacobian-vector; backward computes the vector-Jacobian product)" in text


def test_summary_prints_the_whole_call(trace: Trace) -> None:
    summary = summary_of(trace)

    _, _, grad = reference()
    assert f"x.grad = {shown(grad)}\n" in summary
    whole_call_is_torchs(flat(summary))
