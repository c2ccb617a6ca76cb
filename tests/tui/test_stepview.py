"""The step pane's text: v, J and vJ as PyTorch computes them, and a leaf's .grad equation."""

from __future__ import annotations

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.capture.summary import summarize
from gradviz.model import Value
from gradviz.render.stepview import find_node, leaf_equation, slot_targets, step_view
from gradviz.render.tensortext import matrix_lines, value_lines

from .builders import tutorial_trace
from .conftest import Tutorial


def lines_of(tensor: torch.Tensor) -> list[str]:
    return value_lines(summarize(tensor))


def section(view, title_start: str) -> list[str]:  # type: ignore[no-untyped-def]
    (match,) = [s for s in view.sections if s.title.startswith(title_start)]
    return list(match.lines)


def test_small_values_are_written_out_row_by_row() -> None:
    assert value_lines(summarize(torch.tensor([[1.0, 0.5], [-2.0, 3.25]]))) == [
        "[[   1,  0.5],",
        " [  -2, 3.25]]",
    ]
    assert value_lines(summarize(torch.tensor(7.5))) == ["7.5"]
    assert value_lines(None) == ["None"]


def test_a_lone_row_is_written_without_padding() -> None:
    # Given a vector and a 1 x n row whose elements differ in width
    vector = torch.tensor([3.0, 62.0, 0.5, 4444.0, 1.0, 10.0, 100.0])
    # Then each is one line, as tolist() would write it (whole floats without ".0"), no column padding
    expected = "[" + ", ".join(f"{number:g}" for number in vector.tolist()) + "]"
    assert value_lines(summarize(vector)) == [expected] == ["[3, 62, 0.5, 4444, 1, 10, 100]"]
    assert value_lines(summarize(vector.reshape(1, -1))) == [f"[{expected}]"]
    # while a matrix of two rows keeps its columns aligned
    assert value_lines(summarize(vector[:6].reshape(2, 3))) == [
        "[[   3,   62,  0.5],",
        " [4444,    1,   10]]",
    ]


def test_large_values_show_shape_and_stats_and_shapes_only_hides_values() -> None:
    big = summarize(torch.arange(200.0).reshape(20, 10))
    (line,) = value_lines(big)
    assert line.startswith("[20, 10] float32") and "max 199" in line and "mean 99.5" in line
    assert value_lines(summarize(torch.ones(2, 2)), show_values=False) == ["[2, 2] float32"]


def test_jacobian_is_a_matrix_when_small_and_a_summary_when_large() -> None:
    assert matrix_lines(summarize(torch.eye(2) * 3)) == ["[[3, 0],", " [0, 3]]"]
    wide = Value((4, 400), "float32", None, 0.0, 1.0, 0.1, 2.0)
    assert matrix_lines(wide)[0].startswith("4×400 matrix, too large to write out")


def test_leaf_equation_is_side_by_side_when_it_fits() -> None:
    before, contribution = torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0])
    lines = leaf_equation(summarize(before), summarize(contribution), summarize(before + contribution))
    assert lines == ["[1, 2]  +  [10, 20]  =  [11, 22]"]
    assert leaf_equation(None, summarize(contribution), summarize(contribution)) == [
        "None  +  [10, 20]  =  [10, 20]"
    ]


def test_step_zero_shows_the_root_and_its_gradient(tutorial: Tutorial) -> None:
    call = tutorial.trace.backwards[0]
    view = step_view(call, 0)
    assert view.title == "Step 0 of 5: before backward() runs"
    assert view.node is None
    scalar_start = "1 = dL/dL (a scalar backward starts from 1)"
    assert section(view, "backward starts at MeanBackward0") == [scalar_start]


def test_mul_step_shows_v_j_and_vj_as_torch_computes_them(tutorial: Tutorial) -> None:
    # z = three_y * y: the v it receives is dout/dz, and it sends v*y to three_y and v*three_y to y
    call = tutorial.trace.backwards[0]
    view = step_view(call, 2)
    assert view.title == "Step 2 of 5: MulBackward0 #1 (z)"
    assert section(view, "Incoming gradient v") == lines_of(tutorial.v_z)
    y = tutorial.x**2
    j_to_y = section(view, "Local Jacobian J, input 1 → PowBackward0 #3 (y)")
    assert j_to_y == value_lines(summarize(torch.diag((3 * y).flatten())))
    vj = section(view, "vJ sent to each input")
    assert vj[0] == "[0] → MulBackward0 #2 (three_y): " + lines_of(tutorial.v_z * y)[0]
    assert vj[2] == "[1] → PowBackward0 #3 (y): " + lines_of(tutorial.v_z * 3 * y)[0]


def test_saved_tensors_are_listed_with_their_values(tutorial: Tutorial) -> None:
    # z = three_y * y saved both factors: PyTorch names them self (three_y) and other (y).
    view = step_view(tutorial.trace.backwards[0], 2)
    saved = section(view, "Saved for backward")
    y = tutorial.x**2
    assert any(line.startswith("other (y): " + lines_of(y)[0]) for line in saved)
    assert any(line.startswith("self (three_y): " + lines_of(3 * y)[0]) for line in saved)


def test_a_slot_that_needs_no_gradient_says_so(tutorial: Tutorial) -> None:
    # three_y = 3 * y: the constant 3 has no grad_fn, so slot 1 of MulBackward0 sends nothing
    view = step_view(tutorial.trace.backwards[0], 3)
    assert section(view, "Incoming gradient v") == lines_of(tutorial.v_three_y)
    assert section(view, "vJ sent")[-1] == "[1] → nothing: this input needs no gradient"


def test_leaf_step_shows_grad_before_plus_contribution_equals_grad_after(tutorial: Tutorial) -> None:
    first, second = tutorial.trace.backwards
    view = step_view(first, 5)
    assert view.title == "Step 5 of 5: AccumulateGrad #4 (x)"
    grad = tutorial.x_grad
    assert torch.equal(grad, 3 * tutorial.x**3)
    equation = section(view, "x.grad: before + contribution = after")
    expected = lines_of(grad)
    assert equation[0] == f"None  +  {expected[0]}  =  {expected[0]}"
    # The second call adds the same contribution onto the first call's .grad.
    again = section(step_view(second, 5), "x.grad")
    assert again[0] == f"{expected[0]}  +  {expected[0]}  =  {lines_of(2 * grad)[0]}"


def test_slots_map_to_the_node_that_receives_each_vj() -> None:
    graph = tutorial_trace().backwards[0].graph
    assert slot_targets(graph, 1) == {0: 2, 1: 3}
    assert slot_targets(graph, 4) == {}


def test_find_node_by_id_name_and_tensor_label() -> None:
    graph = tutorial_trace().backwards[0].graph
    assert find_node(graph, "#3") == 3
    assert find_node(graph, "x") == 4
    assert find_node(graph, "PowBackward0") == 3
    assert find_node(graph, "mean") == 0
    assert find_node(graph, "99") is None
    assert find_node(graph, "nothing-like-this") is None


def test_step_zero_of_a_call_that_failed_after_one_step_says_one_step() -> None:
    # Given a second backward through a freed graph: torch runs SumBackward0, then MulBackward0 raises
    with pytest.raises(RuntimeError, match="second time"), Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        y.backward()

    # When step 0 of the failed call is shown
    failed = tracer.backwards[1]
    (next_line,) = section(step_view(failed, 0), "Next")

    # Then it counts the one step torch ran, in the singular
    assert len(failed.steps) == 1
    assert next_line.startswith("1 step ran, then it failed with RuntimeError")


def test_the_whole_call_is_stacked_when_the_pane_is_too_narrow_for_it_side_by_side() -> None:
    # Given y = [x0 * x1, x1 ** 2] run backward with v = [1, 10] (a J that is not diagonal)
    with Tracer() as tracer:
        x = torch.tensor([2.0, 3.0], requires_grad=True)
        torch.stack([x[0] * x[1], x[1] ** 2]).backward(torch.tensor([1.0, 10.0]))
    call = tracer.result().backwards[0]
    assert x.grad is not None
    grad = value_lines(summarize(x.grad))[0]
    jacobian = torch.autograd.functional.jacobian(lambda t: torch.stack([t[0] * t[1], t[1] ** 2]), x.detach())

    # When the last step is laid out for the step pane at 80x24 (34 columns), then for a wide one
    narrow = section(step_view(call, len(call.steps), width=34), "The whole call")
    wide = section(step_view(call, len(call.steps), width=72), "The whole call")

    # Then the narrow one writes v, J (torch's, row by row) and v J = x.grad one under the other
    rows = value_lines(summarize(jacobian))
    assert narrow[1:6] == [
        "  v (row) = [[1, 10]]",
        "  J = dy/dx =",
        *(f"    {row}" for row in rows),
        f"  v J = v @ J = {grad}",
    ]
    assert all(len(line) <= 34 for line in narrow[1:6])
    # and the wide one keeps them side by side
    assert f"  [[1, 10]]  @  {rows[0]}  =  {grad}" in wide
