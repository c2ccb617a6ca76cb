"""Renderers over traces captured from real PyTorch code, checked against PyTorch itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gradviz.render.dot import to_dot
from gradviz.render.html import to_html
from gradviz.render.json import from_json, to_json
from gradviz.render.style import format_value
from gradviz.render.summary import summarize
from gradviz.render.text import to_text

torch = pytest.importorskip("torch")
session = pytest.importorskip("gradviz.capture.session")

PURE = Path(sys.executable).parent / "graphviz-pure"


def tutorial() -> tuple[object, object]:
    with session.Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x**2
        z = y * y * 3
        out = z.mean()
        out.backward()
    return tracer.result(), x


def test_leaf_grad_drawn_is_the_grad_torch_computed() -> None:
    trace, x = tutorial()
    call = trace.backwards[0]

    dot = to_dot(call)

    expected = format_value(session_value(x.grad))
    assert expected == "[6, 48]"
    assert f"grad: {expected}" in dot
    assert f"grad {expected}" in to_text(call)


def session_value(tensor: object) -> object:
    from gradviz.capture.summary import summarize

    return summarize(tensor)  # the same summary capture makes of a tensor


def test_edge_labels_are_the_vjps_torch_gives() -> None:
    trace, _ = tutorial()
    call = trace.backwards[0]
    # Given the same forward again, ask torch for v at w = y * y and at y directly.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x**2
    w = y * y
    grad_w, grad_y = torch.autograd.grad((w * 3).mean(), (w, y))
    half = format_value(session_value(grad_w * y))  # MulBackward0 sends v * other to each y slot

    dot = to_dot(call)

    pow_node = next(node for node in call.graph.nodes if node.name == "PowBackward0")
    into_pow = [
        line
        for line in dot.splitlines()
        if line.strip().endswith(f'-> n{pow_node.id} [label="{half} + {half}"]')
    ]
    assert len(into_pow) == 1
    assert f"v in: {format_value(session_value(grad_y))}" in dot


def test_real_trace_round_trips_through_json() -> None:
    trace, _ = tutorial()

    assert from_json(to_json(trace)) == trace


@pytest.mark.skipif(not PURE.exists(), reason="graphviz-pure is installed with gradviz")
def test_mlp_parameters_appear_by_name_in_the_svg(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradviz.render.svg import to_svg

    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with session.Tracer() as tracer:
        loss = model(torch.randn(5, 3)).pow(2).mean()
        loss.backward()

    drawing = to_svg(tracer.result().backwards[0])

    for name in ("model.0.weight", "model.0.bias", "model.2.weight", "AddmmBackward0", "TanhBackward0"):
        assert name in drawing


def test_graph_draws_a_long_torch_chain_collapsed_unless_asked_for_every_node() -> None:
    import gradviz

    # Given 400 additions on one tensor (401 grad_fn nodes and the leaf)
    x = torch.ones(2, requires_grad=True)
    y = x
    for _ in range(400):
        y = y + 1

    # When it is drawn by default, in full, and a short one at depth 0
    collapsed = gradviz.graph(y).to_dot()
    full = gradviz.graph(y, full=True).to_dot()
    small = gradviz.graph(x * 2, depth=0).to_dot()

    # Then the default folds the 400 AddBackward0 into one x400 box; full has each one
    assert "401 nodes in 2 boxes" in collapsed and "x400" in collapsed
    assert full.count("<b>AddBackward0</b>") == 400
    assert "collapsed view (repeated runs folded): 2 nodes in 2 boxes" in small


def test_html_step_table_says_why_a_grad_input_is_none() -> None:
    # Given h = x * 3: MulBackward0's grad_inputs are (3 * v, None), the constant needing no gradient
    with session.Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3
        h.sum().backward()
    call = tracer.result().backwards[0]
    (mul,) = [step for step in call.steps if call.graph.nodes[step.node].name == "MulBackward0"]
    assert mul.grad_inputs[1] is None

    # When the HTML page is written
    page = to_html(call, None)

    # Then the None slot says why, next to the gradient x received (torch's x.grad)
    assert f"{format_value(session_value(x.grad))} &rarr; AccumulateGrad" in page
    assert "None (this input needs no gradient)" in page


def test_a_long_error_is_cut_at_a_whole_word_in_the_summary_line() -> None:
    # Given torch's own message for a second backward through a freed graph
    with pytest.raises(RuntimeError, match="second time") as raised, session.Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward()

    # When the summary lists the failed call
    (line,) = [line for line in summarize(tracer.result(), [], None).splitlines() if "FAILED" in line]

    # Then the error is cut after a word torch wrote, never inside one
    shown = line.split("FAILED: RuntimeError: ", 1)[1]
    assert shown.endswith("...") and len(shown) < len(str(raised.value))
    assert str(raised.value).split()[: len(shown[:-3].split())] == shown[:-3].split()


def test_a_leaf_whose_post_accumulate_grad_hook_raised_shows_the_grad_torch_accumulated() -> None:
    # Given: a hook on the bias that returns a tensor, so torch raises after the bias accumulated
    torch.manual_seed(0)
    fc = torch.nn.Linear(3, 2)
    fc.bias.register_post_accumulate_grad_hook(lambda p: p.grad.mul_(0.5))
    raised = pytest.raises(RuntimeError, match="post accumulate grad hooks should return None")
    with session.Tracer() as tracer, raised:
        fc(torch.ones(4, 3)).sum().backward()

    # Then: the bias shows the .grad torch left on it; the weight, never reached, received nothing
    assert fc.weight.grad is None and torch.equal(fc.bias.grad, torch.tensor([2.0, 2.0]))
    lines = summarize(tracer.result(), [], None).splitlines()
    assert "      fc.bias.grad = [2, 2]" in lines
    weight = next(line for line in lines if "fc.weight.grad" in line)
    assert weight.endswith("= None  (received nothing: the call failed before reaching it)")


def test_a_grad_call_is_headed_grad_not_backward_in_every_view() -> None:
    # Given: torch.autograd.grad, which returns the gradient and leaves x.grad alone, and a backward
    with session.Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (x * x).sum()
        (returned,) = torch.autograd.grad(loss, x, retain_graph=True)
        loss.backward()
    grad_call, backward_call = tracer.result().backwards
    assert grad_call.api == "grad" and x.grad is not None and torch.equal(returned, x.grad)

    # Then: the grad call's root reads grad() in the tree, the drawing and the page; backward's, backward()
    for view in (to_text, to_dot, lambda call: to_html(call, None)):
        assert "grad() from loss" in view(grad_call) and "backward() from loss" not in view(grad_call)
        assert "backward() from loss" in view(backward_call)
