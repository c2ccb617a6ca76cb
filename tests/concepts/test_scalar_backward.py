"""Scalar backward: backward() on a one-element loss starts from v = 1 = dL/dL; a non-scalar needs a v.

Example: examples/14_scalar_backward.py (loss = (x**2).sum(); then the same with gradient=1; then a
non-scalar backward() without gradient, which raises).
"""

from __future__ import annotations

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, shown, summary_of, svg_of, tui_at

EXAMPLE = "14_scalar_backward.py"


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE)


def test_svg_root_and_first_node_start_from_v_equal_one(trace: Trace) -> None:
    # Given: torch's own v for a scalar loss, and the x.grad it leads to.
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x**2).sum()
    (v,) = torch.autograd.grad(loss, loss, retain_graph=True)
    loss.backward()

    svg = svg_of(trace.backwards[0])

    assert shown(v) == "1"
    assert svg.elements["r0"] == ["backward() from loss", "v = 1 = dL/dL (scalar backward)"]
    assert f"v in: {shown(v)}" in svg.node(0)
    leaf = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "x")
    assert f"grad: {shown(x.grad)}" in leaf
    # PowBackward0 keeps its exponent, a saved value that is not a tensor.
    assert loss.grad_fn is not None
    exponent = loss.grad_fn.next_functions[0][0]._saved_exponent  # type: ignore[union-attr]
    pow_node = next(
        lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "PowBackward0"
    )
    assert f"saved values: exponent: {exponent}" in pow_node


def test_svg_of_a_non_scalar_backward_without_v_says_none_was_given(trace: Trace) -> None:
    # Given: the error torch raises for the example's third call.
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError) as raised:
        (x**2).backward()

    svg = svg_of(trace.backwards[2])

    assert f"failed: RuntimeError: {raised.value}" in svg.elements["title"][-1]
    assert svg.elements["r0"][-1] == "v: none given (v = 1 is implied only for a scalar)"


async def test_tui_step_zero_says_v_is_dl_dl_and_the_failed_call_had_none(trace: Trace) -> None:
    (scalar,) = await tui_at(trace, call=1, steps=[0])
    (failed,) = await tui_at(trace, call=3, steps=[0])

    assert "with v = 1 = dL/dL (a scalar backward starts from 1)" in flat(scalar.panel)
    assert "with v = none given (v = 1 is implied only for a scalar)" in flat(failed.panel)
    assert failed.status.startswith("FAILED")


def test_summary_says_v_equals_one_and_prints_the_gradient(trace: Trace) -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x**2).sum().backward()

    summary = summary_of(trace)

    assert "loss.backward()  (3 nodes, v = 1 = dL/dL)" in summary
    assert f"x.grad = {shown(x.grad)}\n" in summary
    assert "(x**2).backward()  (2 nodes)  FAILED: RuntimeError: grad can be implicitly created" in summary
