"""requires_grad and grad_fn: every op on a tensor that requires grad records a node, named as torch names it.

Example: examples/01_autograd_basics.py (x -> y = x**2 -> z = 3*y*y -> out = z.mean()).
"""

from __future__ import annotations

import torch

from .views import flat, run_example, shown, summary_of, svg_of, tui_at


def tutorial() -> dict[str, torch.Tensor]:
    x = torch.ones(2, 2, requires_grad=True)
    y = x**2
    z = 3 * y * y
    out = z.mean()
    out.backward()
    return {"x": x, "y": y, "z": z, "out": out}


def test_svg_names_each_node_as_the_tensors_grad_fn() -> None:
    # Given: the example traced, and the same chain run by torch alone.
    torch_run = tutorial()
    call = run_example("01_autograd_basics.py").backwards[0]

    # When: the call is drawn.
    svg = svg_of(call)

    # Then: each named tensor's node is titled type(t.grad_fn).__name__ and shows the tensor's name.
    for name in ("y", "z", "out"):
        grad_fn = type(torch_run[name].grad_fn).__name__
        drawn = [lines for key, lines in svg.elements.items() if key.startswith("n") and lines[0] == grad_fn]
        assert any(f"output {name}" in " ".join(lines) for lines in drawn), (name, grad_fn)
    # and the leaf is drawn with its AccumulateGrad, requires_grad=True and the .grad torch computed.
    x = torch_run["x"]
    leaf = next(lines for key, lines in svg.elements.items() if key.startswith("n") and lines[0] == "x")
    assert x.grad_fn is None and x.requires_grad
    assert "AccumulateGrad" in leaf
    assert "[2, 2] float32 requires_grad=True" in leaf
    assert f"grad: {shown(x.grad)}" in leaf


async def test_tui_boxes_name_the_grad_fn_and_the_tensor() -> None:
    torch_run = tutorial()
    trace = run_example("01_autograd_basics.py")

    (view,) = await tui_at(trace, call=1, steps=[0])

    for name in ("y", "out"):
        grad_fn = type(torch_run[name].grad_fn).__name__
        assert any(box.startswith(f"{grad_fn} | {name} ") for box in view.boxes), view.boxes
    assert f"AccumulateGrad | x {list(torch_run['x'].shape)}" in view.boxes


async def test_tui_leaf_step_shows_the_grad_torch_computed() -> None:
    torch_run = tutorial()
    trace = run_example("01_autograd_basics.py")
    steps = len(trace.backwards[0].steps)

    (view,) = await tui_at(trace, call=1, steps=[steps])

    assert "AccumulateGrad #" in view.panel and "(x)" in view.panel
    # x.grad was None, so what AccumulateGrad received is the whole of x.grad.
    assert f"Incoming gradient v {shown(torch_run['x'].grad)}" in flat(view.panel)
    assert "x.grad: before + contribution = after None +" in flat(view.panel)


def test_summary_prints_the_leaf_grad_torch_computed() -> None:
    torch_run = tutorial()

    summary = summary_of(run_example("01_autograd_basics.py"))

    assert f"x.grad = {shown(torch_run['x'].grad)}" in summary
    assert "(5 nodes, v = 1 = dL/dL)" in summary  # Mean, two Mul, Pow and the leaf's AccumulateGrad
