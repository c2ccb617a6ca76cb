"""Devices and dtype moves in every view, over traces of real PyTorch code, checked against torch.

No GPU is needed: a dtype move (``.double()``) and the ``meta`` device stand in for ``.to("cuda")``; both
go through the same ``ToCopyBackward0`` node that a move to a GPU makes.
"""

from __future__ import annotations

import re

import pytest
import torch

import gradviz
from gradviz.model import BackwardCall, Node, Trace
from gradviz.render.dot import to_dot
from gradviz.render.html import to_html
from gradviz.render.json import from_json, to_json
from gradviz.render.layout import layered_layout
from gradviz.render.stepview import step_view
from gradviz.render.style import MOVE, format_value
from gradviz.render.summary import summarize


def short(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_move() -> tuple[Trace, torch.Tensor, torch.Tensor]:
    """``w = randn(3, requires_grad=True).double()``: the pitfall, on the CPU."""
    with gradviz.trace() as t:
        w = torch.randn(3, requires_grad=True).double()
        b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        y = (w * 2 + b).sum()
        y.backward()
    return t.result(), w, w.grad_fn.next_functions[0][0].variable


def node_named(call: BackwardCall, name: str) -> Node:
    (node,) = [node for node in call.graph.nodes if node.name == name]
    return node


def dot_line(dot: str, node: Node) -> str:
    (line,) = [line for line in dot.splitlines() if line.lstrip().startswith(f"n{node.id} [")]
    return line


def test_the_copy_is_drawn_as_a_boundary_with_the_gradient_going_back() -> None:
    trace, w, leaf = dtype_move()
    call = trace.backwards[0]
    copy = node_named(call, "ToCopyBackward0")
    (leaf_node,) = [node for node in call.graph.leaves if node.tensor and not node.tensor.label]

    dot = to_dot(call)

    # The dtypes torch gives: the leaf float32, its copy float64, and the gradient back in float32.
    assert leaf.grad is not None
    there, here = short(leaf.dtype), short(w.dtype)
    assert (there, here, short(leaf.grad.dtype)) == ("float32", "float64", "float32")
    assert f"copy {there} -&gt; {here}" in dot_line(dot, copy)
    assert w.grad_fn is not None and not w.is_leaf
    assert "w is this copy, not a leaf: w.grad stays None" in dot_line(dot, copy)
    assert MOVE.fill in dot  # the boundary's own look, and its legend entry below
    edge = re.search(rf"n{copy.id} -> n{leaf_node.id} \[label=\"([^\"]*)\"", dot)
    assert edge is not None
    assert edge.group(1) == f"{format_value(_grad_value(call, copy))}\ngrad back {here} -> {there}"
    assert format_value(_grad_value(call, copy)) == "[2, 2, 2]" == format_value(_as_value(leaf.grad))
    # The leaf has no name of its own: it is drawn as the one behind w, with its dtype.
    assert "<b>leaf behind w</b>" in dot_line(dot, leaf_node)
    assert "[3] float32 requires_grad=True" in dot_line(dot, leaf_node)
    # Two dtypes take part, so op nodes say theirs; all on the CPU, so no device is named.
    assert "output y scalar float64" in dot
    assert " on cpu" not in dot
    assert "move" in dot and "device or dtype move (ToCopyBackward0)" in dot


def _grad_value(call: BackwardCall, node: Node) -> object:
    (step,) = [step for step in call.steps if step.node == node.id]
    return step.grad_inputs[0]


def _as_value(tensor: torch.Tensor) -> object:
    from gradviz.capture.summary import summarize as value_of

    return value_of(tensor)


def test_the_summary_names_the_copy_and_the_leaf_behind_it() -> None:
    trace, _, leaf = dtype_move()

    text = summarize(trace, [], None)

    assert leaf.grad is not None
    assert re.search(
        r"ToCopyBackward0 \(w\) at \S+:\d+: copy float32 -> float64, grad back float64 -> float32", text
    )
    assert f"(leaf behind w).grad = {format_value(_as_value(leaf.grad))}" in text
    assert ".to() and leaves" in text and "w.grad stays None" in text


def test_the_tui_and_the_html_say_it_too() -> None:
    trace, _, _ = dtype_move()
    call = trace.backwards[0]
    copy = node_named(call, "ToCopyBackward0")
    step = 1 + [s.node for s in call.steps].index(copy.id)

    boxes = {box.ident: box.lines for box in layered_layout(call.graph).boxes if box.kind == "node"}
    view = step_view(call, step)
    page = to_html(call, None)

    assert "float32 -> float64" in boxes[copy.id]
    sections = {section.title: section.lines for section in view.sections}
    assert sections["Device and dtype"] == (
        "tensor: float64",
        "copy float32 -> float64, grad back float64 -> float32",
        "w is this copy, not a leaf: w.grad stays None",
    )
    assert "copy float32 -&gt; float64, grad back float64 -&gt; float32" in page
    leaf_step = step_view(call, len(call.steps))
    assert [s.title for s in leaf_step.sections if s.title.endswith("before + contribution = after")] == [
        "(leaf behind w).grad: before + contribution = after"
    ]


def test_a_graph_on_another_device_names_the_device_everywhere() -> None:
    # The meta device stands in for a GPU: everything lives there, backward runs through it.
    with gradviz.trace() as t:
        x = torch.randn(3, requires_grad=True, device="meta")
        y = x.double()
        (y * y).sum().backward()
    call = t.result().backwards[0]

    dot = to_dot(call)
    text = summarize(t.result(), [], None)

    assert x.grad is not None and x.grad.device.type == "meta" == y.device.type
    leaf = call.graph.leaves[0]
    assert "[3] float32 requires_grad=True on meta" in dot_line(dot, leaf)
    assert "output y [3] float64 on meta" in dot_line(dot, node_named(call, "ToCopyBackward0"))
    assert "      devices: meta" in text
    assert "capture problem" not in text  # a tensor without data is no fault of gradviz's


def test_a_move_between_devices_says_both_ends_and_the_way_back() -> None:
    with pytest.raises(NotImplementedError, match="meta"), gradviz.trace() as t:
        a = torch.randn(3, requires_grad=True)
        moved = a.to("meta")
        (moved * 2).sum().backward()  # torch cannot copy the gradient out of meta: the call fails there
    call = t.result().backwards[0]
    copy = node_named(call, "ToCopyBackward0")

    dot = to_dot(call)

    assert (a.device.type, moved.device.type) == ("cpu", "meta")
    assert call.error is not None and call.error.node == copy.id
    assert "copy cpu -&gt; meta" in dot_line(dot, copy)
    assert "grad back meta -> cpu" in dot
    assert "on cpu" in dot_line(dot, call.graph.leaves[0])
    assert "      devices: cpu, meta" in summarize(t.result(), [], None)


def test_a_cpu_graph_in_one_dtype_is_drawn_as_before() -> None:
    with gradviz.trace() as t:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
    trace = t.result()
    call = trace.backwards[0]

    dot = to_dot(call)
    view = step_view(call, 1)

    assert "on cpu" not in dot and "float32 -&gt;" not in dot and MOVE.fill not in dot
    assert "output scalar<" in dot.replace("</font>", "<")  # no dtype after the shape
    assert "devices:" not in summarize(trace, [], None)
    assert "Device and dtype" not in {section.title for section in view.sections}


def test_trace_json_keeps_what_the_views_need() -> None:
    trace, _, _ = dtype_move()

    again = from_json(to_json(trace))

    assert to_dot(again.backwards[0]) == to_dot(trace.backwards[0])
    assert {node.tensor.device for node in again.backwards[0].graph.nodes if node.tensor} == {"cpu"}


def test_the_printed_graph_of_a_move_names_both_devices_without_a_backward() -> None:
    w = torch.randn(3, requires_grad=True).to("meta")
    y = (w * 2).sum()

    text = str(gradviz.graph(y))

    leaf = w.grad_fn.next_functions[0][0].variable
    assert (leaf.device.type, w.device.type) == ("cpu", "meta")
    assert "w [3] float32 on meta  copy cpu -> meta, grad back meta -> cpu" in text
    assert "leaf behind w (AccumulateGrad #3)  [3] float32 on cpu" in text


def test_a_move_of_device_and_dtype_at_once_says_both() -> None:
    w = torch.randn(3, requires_grad=True).to("meta", torch.float64)

    graph = gradviz.graph((w * 2).sum())

    leaf = w.grad_fn.next_functions[0][0].variable
    before = f"{leaf.device.type} {short(leaf.dtype)}"
    after = f"{w.device.type} {short(w.dtype)}"
    assert (before, after) == ("cpu float32", "meta float64")
    assert f"copy {before} -&gt; {after}" in graph.to_dot()
    assert f"grad back {after} -> {before}" in graph.to_dot()


def test_autocast_casts_are_one_summary_line_with_their_count() -> None:
    # Given: mixed precision on the CPU; autocast casts each Linear's input, weight and bias to bfloat16
    # below Python, so no line of the script made those copies.
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    with gradviz.trace() as t:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(torch.randn(5, 8))
        loss = out.float().pow(2).mean()
        loss.backward()
    graph = t.result().backwards[0].graph
    casts = [n for n in graph.nodes if n.name == "ToCopyBackward0" and n.location is None]

    # When
    text = summarize(t.result(), [], None)

    # Then: torch made one ToCopyBackward0 per cast; the summary says them once, counted, as autocast's,
    # and the user's own .float() keeps its line.
    assert len(casts) == 4 and out.dtype == torch.bfloat16
    assert text.count("inside torch's ops (autocast)") == 1
    assert "ToCopyBackward0 inside torch's ops (autocast) x4: copy float32 -> bfloat16, grad back" in text
    assert re.search(r"ToCopyBackward0 at \S+:\d+: copy bfloat16 -> float32", text)


def test_a_half_cast_without_source_lines_is_not_called_autocast() -> None:
    # Given: a trace recorded without the forward timeline has no source lines to tell a cast apart.
    with gradviz.trace(record_forward=False) as t:
        w = torch.randn(3, requires_grad=True)
        w.half().float().sum().backward()

    # When
    text = summarize(t.result(), [], None)

    # Then
    assert "copy float32 -> float16" in text and "autocast" not in text


def test_one_line_of_the_script_casting_twice_is_counted_after_its_location() -> None:
    # Given: a loop in the forward pass casts at one line of the script twice
    w = torch.randn(3, requires_grad=True)
    with gradviz.trace() as t:
        total = torch.zeros((), dtype=torch.float64)
        for _ in range(2):
            total = total + w.double().sum()
        total.backward()

    # When
    text = summarize(t.result(), [], None)

    # Then: the count follows the whole location (file:line), which stays readable
    assert w.grad is not None and w.grad.tolist() == [2.0, 2.0, 2.0]
    counted = r"ToCopyBackward0 at \S+:\d+ x2: copy float32 -> float64, grad back float64 -> float32$"
    assert re.search(counted, text, re.M)
