"""The Jacobians shown (each node's local J, the whole call's dy/dx and v J) against PyTorch's own."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from gradviz.model import BackwardCall, Value
from gradviz.render.dot import RenderOptions, to_dot
from gradviz.render.jacobian import call_jacobian, flatten
from gradviz.render.notes import VJP_NAME, local_jacobian_lines, root_v_text, whole_call_lines
from gradviz.render.state import step_state
from gradviz.render.tensortext import matrix_lines

torch = pytest.importorskip("torch")
session = pytest.importorskip("gradviz.capture.session")


def traced(function: Callable[..., object], inputs: list[object], v: object | None) -> BackwardCall:
    with session.Tracer() as tracer:
        y = function(*inputs)
        y.backward(v)  # type: ignore[attr-defined]
    return tracer.result().backwards[0]


def stacked(x: object) -> object:
    return torch.stack([x[0] * x[1], x[1] ** 2])  # type: ignore[index]


def assert_values(shown: Value | None, expected: object) -> None:
    assert shown is not None and shown.values is not None
    assert flatten(shown.values) == pytest.approx(expected.reshape(-1).tolist())  # type: ignore[attr-defined]


def test_whole_call_jacobian_is_torchs_for_a_jacobian_that_is_not_diagonal() -> None:
    # Given: y = [x0 * x1, x1 ** 2], backward with a non-scalar v.
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    v = torch.tensor([1.0, 10.0])
    call = traced(stacked, [x], v)

    # When: dy/dx is composed from the recorded local Jacobians.
    whole = call_jacobian(call)

    # Then: it is the matrix torch.autograd.functional.jacobian computes, and v J is x.grad.
    assert whole is not None and len(whole.inputs) == 1
    expected = torch.autograd.functional.jacobian(stacked, x.detach())
    assert expected[0, 1] != 0 and whole.inputs[0].jacobian.shape == (2, 2)
    assert_values(whole.inputs[0].jacobian, expected)
    assert_values(whole.inputs[0].vjp, x.grad)
    assert whole.inputs[0].vjp is not None and whole.inputs[0].vjp.shape == tuple(x.shape)


def test_two_inputs_of_several_dimensions_each_get_their_block() -> None:
    # Given: a 2x2 weight and a 2-vector, through matmul and tanh (paths meet at the sum).
    def model(w: object, b: object) -> object:
        return torch.tanh(w @ torch.tensor([1.0, -2.0]) + b) * b  # type: ignore[operator]

    w = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    b = torch.tensor([0.1, -0.3], requires_grad=True)
    with session.Tracer() as tracer:
        model(w, b).backward(torch.tensor([1.0, -2.0]))  # type: ignore[attr-defined]
    call = tracer.result().backwards[0]

    whole = call_jacobian(call)

    assert whole is not None
    by_label = {entry.label: entry for entry in whole.inputs}
    jw, jb = torch.autograd.functional.jacobian(model, (w.detach(), b.detach()))
    assert_values(by_label["w"].jacobian, jw.reshape(2, 4))
    assert_values(by_label["b"].jacobian, jb)
    assert_values(by_label["w"].vjp, w.grad)
    assert_values(by_label["b"].vjp, b.grad)


def test_the_drawing_shows_dy_dx_v_and_v_j_as_torch_gives_them() -> None:
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    with session.Tracer() as tracer:
        stacked(x).backward(torch.tensor([1.0, 10.0]))  # type: ignore[attr-defined]
    call = tracer.result().backwards[0]

    dot = to_dot(call)

    jacobian = torch.autograd.functional.jacobian(stacked, x.detach())
    written = matrix_lines(Value((2, 2), "float32", tuple(tuple(row) for row in jacobian.tolist())))
    panel = dot[dot.index("The whole call") :]
    assert "vector-Jacobian product" in panel
    for row in written:  # each row of torch's Jacobian, in the panel
        assert row.strip() in panel
    assert "3, 62" in panel and x.grad.tolist() == [3.0, 62.0]
    assert "x.grad" in panel


def test_each_node_shows_its_local_jacobian_once_it_ran() -> None:
    # Given: y = x ** 2 alone: its local J is diag(2x).
    x = torch.tensor([1.0, -3.0], requires_grad=True)
    with session.Tracer() as tracer:
        (x**2).backward(torch.ones(2))
    call = tracer.result().backwards[0]
    pow_node = next(node.id for node in call.graph.nodes if node.name == "PowBackward0")

    before = local_jacobian_lines(call.graph, step_state(call, 0), pow_node)
    after = local_jacobian_lines(call.graph, step_state(call, 1), pow_node)

    assert before == []
    expected = matrix_lines(Value((2, 2), "float32", tuple(tuple(r) for r in torch.diag(2 * x).tolist())))
    assert after == ["J to x =", *(f"  {row}" for row in expected)]
    assert "J to x =" in to_dot(call, step=1) and "J to x" not in to_dot(call, step=0)
    assert "J to x" not in to_dot(call, options=RenderOptions(jacobians=False))
    assert "J to x" not in to_dot(call, options=RenderOptions(values=False))  # a J is values


def test_two_inputs_of_one_kind_or_one_tensor_are_told_apart_by_position() -> None:
    # Given: g * h (both inputs from a MulBackward0, unnamed), w * w (one tensor twice), and y * x where
    # both inputs have names of their own
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    w = torch.tensor([1.0, 4.0], requires_grad=True)
    with session.Tracer() as tracer:
        ((x * 2) * (x * 3)).sum().backward()
        (w * w).sum().backward()
        y = x * 5
        (y * x).sum().backward()
    first, second, third = tracer.result().backwards

    def heads(call: BackwardCall, step: int) -> list[str]:
        node = call.steps[step - 1].node
        lines = local_jacobian_lines(call.graph, step_state(call, step), node)
        return [line.partition(" =")[0] for line in lines if line.startswith("J to")]

    # Then: each J names its input; a kind or a name shared by two inputs gets the input's position
    assert heads(first, 2) == ["J to input 0 (MulBackward0)", "J to input 1 (MulBackward0)"]
    assert heads(second, 2) == ["J to input 0 (w)", "J to input 1 (w)"]
    assert heads(third, 2) == ["J to y", "J to x"]
    # And the J itself is torch's: d(w * w)/dw through either input is diag(w)
    jw = second.steps[1].jacobians[0]
    assert jw is not None and [list(row) for row in jw.values] == torch.diag(w.detach()).tolist()


def test_a_comment_calling_it_a_jacobian_vector_product_is_answered() -> None:
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    with session.Tracer() as tracer:
        y = stacked(x)
        y.backward(torch.ones(2))  # the Jacobian-vector product
    call = tracer.result().backwards[0]

    lines = whole_call_lines(call)

    assert "backward computes the vector-Jacobian product" in "\n".join(lines)


def test_a_call_too_large_has_no_whole_call_panel() -> None:
    x = torch.ones(40, requires_grad=True)
    call = traced(lambda t: t * 2, [x], torch.ones(40))

    assert call_jacobian(call) is None
    assert "The whole call" not in to_dot(call)


def test_root_says_dl_dl_for_a_scalar_backward_and_not_run_yet_before_one() -> None:
    import gradviz

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    call = traced(lambda t: (t * t).sum(), [x], None)
    lone = gradviz.graph((x * x).sum()).graph

    assert root_v_text(call.graph.roots[0]) == "v = 1 = dL/dL (scalar backward)"
    assert "v = 1 = dL/dL" in to_dot(call)
    assert root_v_text(lone.roots[0]).startswith("v: not run yet")
    assert "v = None" not in to_dot(lone)
    assert "v: not run yet" in to_dot(lone, options=RenderOptions(depth=0))  # the collapsed view too
    assert "v = 1 = dL/dL" in to_dot(call, options=RenderOptions(depth=0))


def test_a_non_leaf_says_its_grad_is_none_and_shows_the_v_it_received() -> None:
    # Given: h is a non-leaf without retain_grad; after backward torch leaves h.grad None.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with session.Tracer() as tracer:
        h = x * 3
        h.sum().backward()
    call = tracer.result().backwards[0]

    dot = to_dot(call)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when a non-leaf's .grad is read
        assert h.grad is None
    mul = next(node for node in call.graph.nodes if node.name == "MulBackward0")
    label = next(line for line in dot.splitlines() if line.lstrip().startswith(f"n{mul.id} "))
    assert ".grad: None, not retained (retain_grad() keeps v)" in label
    assert "v in: [1, 1]" in label


def test_the_tui_step_pane_shows_saved_values_and_the_whole_call_at_the_last_step() -> None:
    from gradviz.render.stepview import step_view

    # Given: the non-diagonal example, stepped as the TUI steps it.
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    with session.Tracer() as tracer:
        y = torch.stack([x[0] * x[1], x[1] ** 2])
        y.backward(torch.tensor([1.0, 10.0]))
    call = tracer.result().backwards[0]
    names = [call.graph.node(step.node).name for step in call.steps]
    pow_step = names.index("PowBackward0") + 1

    pow_view = step_view(call, pow_step)
    last = step_view(call, len(call.steps))

    sections = {section.title: section.lines for section in pow_view.sections}
    assert f"exponent: {y.grad_fn.next_functions[1][0]._saved_exponent}" in sections["Saved for backward"]
    assert sections["Its tensor"] == (".grad: None, not retained (retain_grad() keeps v)",)
    whole = {section.title: section.lines for section in last.sections}[f"The whole call: {VJP_NAME}"]
    assert "  [[1, 10]]  @  [[3, 2],  =  [3, 62]" in whole and x.grad.tolist() == [3.0, 62.0]


def test_a_malformed_trace_draws_no_whole_call_and_never_raises() -> None:
    from gradviz.model import Edge, Graph, Node, Root, Step, TensorInfo

    # Given: a hand-edited trace whose local J has the wrong number of rows for the root's v.
    v = Value((2,), "float32", (1.0, 1.0))
    graph = Graph(
        nodes=(
            Node(0, "MulBackward0", tensor=TensorInfo("y", (2,), "float32", "cpu")),
            Node(1, "AccumulateGrad", tensor=TensorInfo("x", (2,), "float32", "cpu", is_leaf=True)),
        ),
        edges=(Edge(0, 1),),
        roots=(Root(0, "y", v),),
    )
    wrong = Value((3, 2), "float32", ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0)))
    call = BackwardCall(1, "backward", None, graph, steps=(Step(0, (v,), (v,), (wrong,)), Step(1, (v,), ())))

    assert call_jacobian(call) is None
    assert "The whole call" not in to_dot(call)
    assert "J to x =" in to_dot(call)  # the local J is still shown as recorded


def test_v_j_is_the_share_a_call_added_into_an_accumulated_grad() -> None:
    # Given: two backward calls into the same x (no zeroing between).
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with session.Tracer() as tracer:
        (x * 3).backward(torch.tensor([1.0, 1.0]))
        before = x.grad.clone()
        (x**2).backward(torch.tensor([1.0, -1.0]))
    second = tracer.result().backwards[1]

    whole = call_jacobian(second)

    assert whole is not None
    assert_values(whole.inputs[0].vjp, x.grad - before)
