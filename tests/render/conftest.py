"""Hand-built model objects for the renderer tests (no torch needed).

The tutorial graph is what PyTorch builds for ``x = tensor([1., 2.], requires_grad=True);
y = x ** 2; z = y * y * 3; out = z.mean(); out.backward()``; the numbers are the ones torch gives
(``x.grad == [6., 48.]``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gradviz.model import (
    BackwardCall,
    CallError,
    Edge,
    Event,
    Finding,
    Graph,
    Location,
    Node,
    Overlay,
    Root,
    SavedTensor,
    Step,
    TensorInfo,
    Trace,
    Value,
)


def _flat(values: Any) -> list[float]:
    if isinstance(values, (list, tuple)):
        return [item for entry in values for item in _flat(entry)]
    return [float(values)]


def _shape(values: Any) -> tuple[int, ...]:
    if isinstance(values, (list, tuple)):
        return (len(values), *(_shape(values[0]) if values else ()))
    return ()


def _freeze(values: Any) -> Any:
    if isinstance(values, (list, tuple)):
        return tuple(_freeze(item) for item in values)
    return values


def val(values: Any, dtype: str = "float32") -> Value:
    """A `Value` with full values and the statistics `summarize` would give."""
    flat = _flat(values)
    return Value(
        shape=_shape(values),
        dtype=dtype,
        values=_freeze(values),
        min=min(flat),
        max=max(flat),
        mean=sum(flat) / len(flat),
        norm=math.sqrt(sum(item * item for item in flat)),
    )


def loc(line: int, code: str | None = None) -> Location:
    return Location(file="train.py", line=line, function="<module>", code=code)


def tensor(label: str | None, shape: tuple[int, ...], **kwargs: Any) -> TensorInfo:
    return TensorInfo(label=label, shape=shape, dtype="float32", device="cpu", **kwargs)


def tutorial_graph(*, overlays: tuple[Overlay, ...] = ()) -> Graph:
    nodes = (
        Node(0, "MeanBackward0", loc(5, "out = z.mean()"), tensor("out", ())),
        Node(
            1,
            "MulBackward0",
            loc(4, "z = y * y * 3"),
            tensor("z", (2,)),
            saved=(SavedTensor("other", val(3.0, "int64")),),
        ),
        Node(
            2,
            "MulBackward0",
            loc(4, "z = y * y * 3"),
            tensor(None, (2,)),
            saved=(
                SavedTensor("self", val([1.0, 4.0]), source=3, label="y"),
                SavedTensor("other", val([1.0, 4.0]), source=3, label="y"),
            ),
        ),
        Node(
            3,
            "PowBackward0",
            loc(3, "y = x ** 2"),
            tensor("y", (2,)),
            saved=(SavedTensor("self", val([1.0, 2.0]), source=4, label="x"),),
        ),
        Node(
            4,
            "AccumulateGrad",
            None,
            tensor("x", (2,), is_leaf=True, grad_after=val([6.0, 48.0])),
        ),
    )
    edges = (Edge(0, 1), Edge(1, 2), Edge(2, 3, (0, 1)), Edge(3, 4))
    roots = (Root(0, "out", val(1.0)),)
    return Graph(nodes=nodes, edges=edges, roots=roots, overlays=overlays)


def tutorial_steps() -> tuple[Step, ...]:
    return (
        Step(0, (val(1.0),), (val([0.5, 0.5]),)),
        Step(1, (val([0.5, 0.5]),), (val([1.5, 1.5]), None)),
        Step(2, (val([1.5, 1.5]),), (val([1.5, 6.0]), val([1.5, 6.0]))),
        Step(3, (val([3.0, 12.0]),), (val([6.0, 48.0]),), jacobians=(val([[2.0, 0.0], [0.0, 4.0]]),)),
        Step(4, (val([6.0, 48.0]),), ()),
    )


def tutorial_overlays() -> tuple[Overlay, ...]:
    return (
        Overlay(0, "no_grad", "m", "m = x * 2 made under torch.no_grad(): not recorded", loc(6), 4, 7),
        Overlay(
            1, "data_edit", "x", "x.data edited: backward will use the new values", loc(7), 4, 8, "warning"
        ),
        Overlay(2, "detach", "d", "d = y.detach() cuts the graph here", loc(8), 3, 9),
        Overlay(3, "inplace", "y", "y.mul_(2) bumped y._version 0 -> 1", loc(9), 3, 10),
    )


def tutorial_call(**graph_kwargs: Any) -> BackwardCall:
    return BackwardCall(
        index=1,
        api="backward",
        location=loc(6, "out.backward()"),
        graph=tutorial_graph(**graph_kwargs),
        steps=tutorial_steps(),
    )


#: What torch 2.13 says when PowBackward0 unpacks an x that ``x.add_(1)`` changed after the forward.
INPLACE_MESSAGE = (
    "one of the variables needed for gradient computation has been modified by an inplace operation: "
    "[torch.FloatTensor [2]] is at version 1; expected version 0 instead. Hint: enable anomaly detection "
    "to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."
)


def failed_call(*, node: int | None = 3, steps: int = 3) -> BackwardCall:
    """The tutorial call as a second backward that raised in PowBackward0 (x was changed in place).

    x already held [1, 1] from an earlier call; the engine ran `steps` nodes before it raised, so
    x's AccumulateGrad never ran and its ``.grad`` is still [1, 1] (an equal, separate summary).
    """
    graph = tutorial_graph()
    x = graph.nodes[4]
    assert x.tensor is not None
    leaf = replace(x, tensor=replace(x.tensor, grad_before=val([1.0, 1.0]), grad_after=val([1.0, 1.0])))
    return BackwardCall(
        index=2,
        api="backward",
        location=loc(9, "out.backward()"),
        graph=replace(graph, nodes=(*graph.nodes[:4], leaf)),
        steps=tutorial_steps()[:steps],
        error=CallError("RuntimeError", INPLACE_MESSAGE, node),
    )


def tutorial_trace() -> Trace:
    return Trace(
        torch_version="2.13.0",
        script="train.py",
        backward_calls=1,
        events=(
            Event(0, "op", "pow", loc(3), inputs=(0,), outputs=(1,), grad_fn="PowBackward0"),
            Event(1, "grad_mode", "no_grad", loc(6), enabled=False),
        ),
        backwards=(tutorial_call(overlays=tutorial_overlays()),),
        findings=(
            Finding("data_edit", "x was changed through .data", loc(7), 1, "x"),
            Finding("no_grad", "m was made under no_grad", loc(6), 1, "m", severity="note"),
        ),
    )


def chain_graph(length: int, *, detailed: bool = True) -> Graph:
    """A straight chain of `length` op nodes ending in one leaf: deep enough to break recursion.

    `detailed` gives each node a source line and a tensor, as a real capture would.
    """
    if detailed:
        nodes = [Node(i, "AddBackward0", loc(i + 1), tensor(f"t{i}", (1,))) for i in range(length)]
    else:
        nodes = [Node(i, "AddBackward0") for i in range(length)]
    nodes.append(Node(length, "AccumulateGrad", None, tensor("x", (1,), is_leaf=True)))
    edges = tuple(Edge(i, i + 1) for i in range(length))
    return Graph(nodes=tuple(nodes), edges=edges, roots=(Root(0, "out", val(1.0)),))


@pytest.fixture
def graph() -> Graph:
    return tutorial_graph()


@pytest.fixture
def call() -> BackwardCall:
    return tutorial_call()


@pytest.fixture
def trace() -> Trace:
    return tutorial_trace()


class Builders:
    """The helpers above, handed to tests through the `build` fixture."""

    val = staticmethod(val)
    loc = staticmethod(loc)
    tensor = staticmethod(tensor)
    tutorial_graph = staticmethod(tutorial_graph)
    tutorial_call = staticmethod(tutorial_call)
    failed_call = staticmethod(failed_call)
    tutorial_trace = staticmethod(tutorial_trace)
    tutorial_overlays = staticmethod(tutorial_overlays)
    chain_graph = staticmethod(chain_graph)


@pytest.fixture
def build() -> type[Builders]:
    return Builders


GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """Compare text with ``golden/<name>``; ``GRADVIZ_UPDATE_GOLDEN=1`` rewrites the file instead."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("GRADVIZ_UPDATE_GOLDEN") == "1":
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"no golden file {path}: run with GRADVIZ_UPDATE_GOLDEN=1 to create it"
        assert text == path.read_text(encoding="utf-8"), f"{name} changed: rerun with GRADVIZ_UPDATE_GOLDEN=1"

    return check
