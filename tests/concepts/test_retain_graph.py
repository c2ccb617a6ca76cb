"""retain_graph: backward frees the saved tensors it used; a second backward through them fails, unless
retain_graph=True kept them or no node saved any (``x + 2``).

Example: examples/16_retain_graph.py (calls: 1 ok, 2 fails, 3 with retain_graph=True, 4 again, 5 and 6
through x + 2).
"""

from __future__ import annotations

import pytest
import torch

from gradviz.model import Trace

from .views import flat, run_example, shown, summary_of, svg_of, tui_at

EXAMPLE = "16_retain_graph.py"


def second_backward_error() -> str:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as raised:
        y.backward()
    return str(raised.value)


@pytest.fixture(scope="module")
def trace() -> Trace:
    return run_example(EXAMPLE)


def mul_node(elements: dict[str, list[str]]) -> list[str]:
    return next(lines for key, lines in elements.items() if key[0] == "n" and lines[0] == "MulBackward0")


def test_svg_shows_saved_tensors_freed_then_the_second_backward_failing_there(trace: Trace) -> None:
    error = second_backward_error()

    first, second = svg_of(trace.backwards[0]), svg_of(trace.backwards[1])

    assert "saved tensors freed after it ran (retain_graph=False)" in mul_node(first.elements)
    failed = mul_node(second.elements)
    assert "its saved tensors were freed by backward call 1," in failed
    assert "which ran without retain_graph=True" in failed
    assert "raised here: RuntimeError" in failed
    title = second.elements["title"][-1]
    assert title.startswith("failed: RuntimeError: ") and error.startswith(title[22:].rstrip(". "))


def test_svg_with_retain_graph_keeps_them_and_the_second_call_adds_into_grad(trace: Trace) -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.clone()  # type: ignore[union-attr]
    y.backward()

    kept, again = svg_of(trace.backwards[2]), svg_of(trace.backwards[3])

    assert "saved tensors kept (retain_graph=True): another backward can run" in mul_node(kept.elements)
    leaf = next(lines for key, lines in again.elements.items() if key[0] == "n" and lines[0] == "x")
    assert f"grad before: {shown(once)}" in leaf
    assert f"grad: {shown(x.grad)} (accumulated)" in [flat(line) for line in leaf]


def test_svg_of_x_plus_2_run_twice_says_nothing_was_saved(trace: Trace) -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (x + 2).sum()
    assert z.grad_fn is not None
    saved = [name for name in dir(z.grad_fn.next_functions[0][0]) if name.startswith("_saved_")]
    assert saved == ["_saved_alpha"]  # AddBackward0 keeps only the number alpha, no tensor

    svg = svg_of(trace.backwards[5])

    add = next(lines for key, lines in svg.elements.items() if key[0] == "n" and lines[0] == "AddBackward0")
    assert "ran before in backward call 5 (no retain_graph)" in add
    assert "it saved no tensors, so nothing it needs was freed" in add


async def test_tui_says_freed_then_where_and_why_the_second_call_failed(trace: Trace) -> None:
    (first,) = await tui_at(trace, call=1, steps=[2])
    (failure,) = await tui_at(trace, call=2, steps=[2])

    assert "retain_graph saved tensors freed after it ran (retain_graph=False)" in flat(first.panel)
    assert failure.status.startswith("FAILED in MulBackward0 #1: RuntimeError: Trying to backward through")
    text = flat(failure.panel)
    assert "Raised in MulBackward0 #1" in text
    assert "its saved tensors were freed by backward call 1, which ran without retain_graph=True" in text
    assert flat(second_backward_error()) in text


def test_summary_explains_the_failure_and_the_x_plus_2_rerun(trace: Trace) -> None:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for _ in range(2):
        (x + 2).sum().backward()

    summary = flat(summary_of(trace))

    assert (
        "#2 backward at 16_retain_graph.py:20 y.backward() (3 nodes, v = 1 = dL/dL) FAILED: RuntimeError"
        in summary
    )
    assert (
        "backward call 1 at 16_retain_graph.py:17 (`y.backward()`) already went through this graph" in summary
    )
    assert "or pass retain_graph=True to the first call" in summary
    assert f"x.grad = {shown(x.grad)} (was " in summary
    assert (
        "note, retain_graph (16_retain_graph.py:35): backward call 6 reran a graph without retain_graph=True;"
        " it works because its nodes saved no tensors, so nothing was freed"
    ) in summary
