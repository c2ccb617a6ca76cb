"""Overlays: what autograd did not record, found in the timeline and drawn beside the graph."""

from __future__ import annotations

import re

import torch

from gradviz.capture.overlay import assigned_name, data_owner, overlays_for
from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, Edge, Event, Graph, Location, Node, Overlay, TensorInfo
from gradviz.render.dot import to_dot
from gradviz.render.style import RenderOptions


def info(tensor_id: int, label: str, *, leaf: bool = False) -> TensorInfo:
    return TensorInfo(label=label, shape=(2,), dtype="float32", device="cpu", is_leaf=leaf, id=tensor_id)


def at(line: int, code: str) -> Location:
    return Location(file="train.py", line=line, code=code)


# Given: a = leaf (tensor 0); b = a * 3 (tensor 1, event 1); loss = b.sum() (tensor 2, event 2)
GRAPH = Graph(
    nodes=(
        Node(0, "SumBackward0", tensor=info(2, "loss"), event=2),
        Node(1, "MulBackward0", tensor=info(1, "b"), event=1),
        Node(2, "AccumulateGrad", tensor=info(0, "a", leaf=True)),
    ),
    edges=(Edge(0, 1), Edge(1, 2)),
)


def events(*extra: Event) -> tuple[Event, ...]:
    base = (
        Event(0, "op", "tensor", at(1, "a = torch.tensor([1., 2.], requires_grad=True)"), outputs=(0,)),
        Event(1, "op", "Tensor.mul", at(2, "b = a * 3"), inputs=(0,), outputs=(1,), grad_fn="MulBackward0"),
        Event(
            2, "op", "Tensor.sum", at(3, "loss = b.sum()"), inputs=(1,), outputs=(2,), grad_fn="SumBackward0"
        ),
    )
    return base + extra


def test_no_grad_result_of_a_graph_tensor_is_a_ghost_attached_to_it() -> None:
    found = overlays_for(
        GRAPH,
        events(
            Event(3, "op", "Tensor.mul", at(5, "d = b * 2"), grad_mode="no_grad", inputs=(1,), outputs=(3,))
        ),
    )
    assert found == (
        Overlay(
            0, "no_grad", "d", "no_grad: not recorded, no grad_fn", at(5, "d = b * 2"), attached_to=1, event=3
        ),
    )


def test_detach_in_place_op_and_data_edit_each_hang_off_their_tensor() -> None:
    found = overlays_for(
        GRAPH,
        events(
            Event(3, "detach", "Tensor.detach", at(4, "e = b.detach()"), inputs=(1,), outputs=(4,)),
            Event(
                4,
                "inplace",
                "Tensor.mul_",
                at(5, "b.mul_(2)"),
                inputs=(1,),
                outputs=(1,),
                version_before=0,
                version_after=1,
            ),
            Event(
                5,
                "data_write",
                "Tensor.mul_",
                at(6, "a.data *= 10"),
                inputs=(5,),
                outputs=(0,),
                version_before=0,
                version_after=0,
            ),
            Event(
                6,
                "requires_grad",
                "Tensor.requires_grad_",
                at(7, "b.requires_grad_(False)"),
                inputs=(1,),
                enabled=False,
            ),
        ),
    )
    assert [(o.kind, o.attached_to, o.text, o.label) for o in found] == [
        ("detach", 1, "detach(): requires_grad=False", "e"),
        ("inplace", 1, "Tensor.mul_: _version 0 -> 1", "b"),
        ("data_edit", 2, ".data edit at line 6: _version stays 0", "a"),
        ("requires_grad_off", 1, "requires_grad set to False", "b"),
    ]


def test_only_events_between_the_graphs_first_op_and_its_backward_count() -> None:
    # Given: an optimizer-style edit of the leaf before the forward, and one after backward
    before = Event(
        0, "inplace", "Tensor.add_", at(9, "a.add_(1)"), outputs=(0,), version_before=0, version_after=1
    )
    timeline = (
        before,
        Event(1, "op", "Tensor.mul", at(2, "b = a * 3"), inputs=(0,), outputs=(1,), grad_fn="MulBackward0"),
        Event(
            2, "op", "Tensor.sum", at(3, "loss = b.sum()"), inputs=(1,), outputs=(2,), grad_fn="SumBackward0"
        ),
        Event(3, "backward", "backward", at(4, "loss.backward()")),
        Event(
            4, "inplace", "Tensor.add_", at(9, "a.add_(1)"), outputs=(0,), version_before=1, version_after=2
        ),
    )
    assert overlays_for(GRAPH, timeline) == ()


def test_a_graph_without_tensor_ids_gets_no_overlays() -> None:
    bare = Graph(nodes=(Node(0, "SumBackward0"),), edges=())
    assert overlays_for(bare, events()) == ()


def test_names_are_read_from_the_line() -> None:
    assert assigned_name(at(1, "d = b * c")) == "d"
    assert assigned_name(at(1, "self.h: torch.Tensor = x @ w")) == "self.h"
    assert assigned_name(at(1, "if a == b:")) is None
    assert data_owner(at(1, "model.fc.weight.data.mul_(0.5)")) == "model.fc.weight"


def traced_call() -> BackwardCall:
    with Tracer() as tracer:
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        b = a * 3
        c = b.sigmoid()
        with torch.no_grad():
            d = b * c
        e = c.detach()
        a.data *= 10
        loss = (c * b).sum()
        loss.backward()
    assert d.grad_fn is None and not e.requires_grad
    (call,) = tracer.backwards
    return call


def test_traced_script_overlays_and_what_the_dot_drawing_shows() -> None:
    call = traced_call()
    by_kind = {o.kind: o for o in call.graph.overlays}
    assert sorted(by_kind) == ["data_edit", "detach", "no_grad"]
    node_label = {n.id: n.tensor.label if n.tensor else None for n in call.nodes}
    assert node_label[by_kind["no_grad"].attached_to] == "b"  # d = b * c: linked to where it came from
    assert node_label[by_kind["detach"].attached_to] == "c"
    assert node_label[by_kind["data_edit"].attached_to] == "a"  # shown on the leaf, with the line
    assert by_kind["data_edit"].location is not None
    assert by_kind["data_edit"].location.code == "a.data *= 10"

    dot = to_dot(call)
    ghost = by_kind["no_grad"]
    assert "no_grad: not recorded, no grad_fn" in dot
    assert re.search(rf"o{ghost.id} \[[^\]]*dashed", dot), "the no_grad ghost is drawn dashed"
    assert f"n{ghost.attached_to} -> o{ghost.id}" in dot
    assert "detach(): requires_grad=False" in dot
    assert ".data edit at line" in dot

    hidden = to_dot(call, options=RenderOptions(overlays=False))
    assert "no_grad: not recorded" not in hidden and "detach()" not in hidden


def test_a_leaf_edit_before_the_graph_used_the_leaf_is_not_this_graphs() -> None:
    # Given: b made early (event 1); the leaf a edited (event 2), used (event 3), edited again (event 4)
    graph = Graph(
        nodes=(
            Node(0, "MulBackward0", tensor=info(3, "loss"), event=3),
            Node(1, "AccumulateGrad", tensor=info(0, "a", leaf=True)),
            Node(2, "ExpBackward0", tensor=info(1, "b"), event=1),
        ),
        edges=(Edge(0, 1), Edge(0, 2)),
    )
    timeline = (
        Event(0, "op", "tensor", at(1, "a = ..."), outputs=(0,)),
        Event(1, "op", "Tensor.exp", at(2, "b = z.exp()"), inputs=(9,), outputs=(1,), grad_fn="ExpBackward0"),
        Event(
            2, "inplace", "Tensor.add_", at(3, "a.add_(1)"), outputs=(0,), version_before=0, version_after=1
        ),
        Event(
            3, "op", "Tensor.mul", at(4, "loss = a * b"), inputs=(0, 1), outputs=(3,), grad_fn="MulBackward0"
        ),
        Event(
            4, "inplace", "Tensor.add_", at(5, "a.add_(1)"), outputs=(0,), version_before=1, version_after=2
        ),
    )
    (only,) = overlays_for(graph, timeline)
    assert (only.kind, only.attached_to, only.event) == ("inplace", 1, 4)
