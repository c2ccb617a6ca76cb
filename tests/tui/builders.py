"""Hand-built traces for the TUI tests, with every number computed by PyTorch itself.

The tutorial chain ``x -> y = x**2 -> z = 3*y*y -> out = z.mean()`` is built node by node the way
autograd runs it, so the TUI tests do not depend on the capture code, only on torch's answers.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from gradviz.capture.summary import summarize
from gradviz.model import (
    BackwardCall,
    CallError,
    Edge,
    Event,
    Graph,
    Location,
    ModuleInfo,
    Node,
    Overlay,
    Root,
    SavedTensor,
    Step,
    TensorInfo,
    Trace,
    Value,
)

SCRIPT = "tutorial.py"


def _loc(line: int, code: str) -> Location:
    return Location(SCRIPT, line, "<module>", code)


def _info(
    label: str, tensor: torch.Tensor, *, leaf: bool = False, tensor_id: int | None = None
) -> TensorInfo:
    return TensorInfo(label, tuple(tensor.shape), "float32", "cpu", is_leaf=leaf, id=tensor_id)


def _jacobian(fn: object, tensor: torch.Tensor) -> Value:
    matrix = torch.autograd.functional.jacobian(fn, tensor)  # type: ignore[arg-type]
    return summarize(matrix.reshape(-1, tensor.numel()) if matrix.dim() else matrix.reshape(1, -1))


def tutorial_trace() -> Trace:
    """The tutorial example as gradviz would capture it, numbers from torch.

    Returns:
        One backward call of five steps (Mean, Mul z, Mul 3*y, Pow, AccumulateGrad), a forward
        timeline of four ops, and a detach overlay on y.
    """
    x = torch.ones(2, 2, requires_grad=True)
    y = x**2
    three_y = 3 * y
    z = three_y * y
    out = z.mean()
    # The v each node receives, and the vJ it sends, straight from torch.
    v_out = torch.ones(())
    v_z = torch.autograd.grad(out, z, retain_graph=True)[0]
    v_three_y = torch.autograd.grad(out, three_y, retain_graph=True)[0]
    v_y = torch.autograd.grad(out, y, retain_graph=True)[0]
    v_x = torch.autograd.grad(out, x, retain_graph=True)[0]
    with torch.no_grad():
        vj_z_to_three_y = v_z * y
        vj_z_to_y = v_z * three_y
        vj_three_y_to_y = v_three_y * 3
    nodes = (
        Node(0, "MeanBackward0", _loc(5, "out = z.mean()"), _info("out", out, tensor_id=4), event=3),
        Node(
            1,
            "MulBackward0",
            _loc(4, "z = 3 * y * y"),
            _info("z", z, tensor_id=3),
            (SavedTensor("self", summarize(three_y), 2), SavedTensor("other", summarize(y), 3, "y")),
            event=2,
        ),
        Node(
            2,
            "MulBackward0",
            _loc(4, "z = 3 * y * y"),
            TensorInfo(None, (2, 2), "float32", "cpu", id=2),
            event=1,
        ),
        Node(3, "PowBackward0", _loc(3, "y = x ** 2"), _info("y", y, tensor_id=1), event=0),
        Node(
            4,
            "AccumulateGrad",
            None,
            TensorInfo(
                "x", (2, 2), "float32", "cpu", is_leaf=True, grad_before=None, grad_after=summarize(v_x), id=0
            ),
        ),
    )
    edges = (Edge(0, 1, (0,)), Edge(1, 2, (0,)), Edge(1, 3, (1,)), Edge(2, 3, (0,)), Edge(3, 4, (0,)))
    overlays = (
        Overlay(0, "detach", "c", "c = y.detach(): gradients stop here", _loc(6, "c = y.detach()"), 3, 4),
    )
    graph = Graph(nodes, edges, (Root(0, "out", summarize(v_out)),), overlays)
    steps = (
        Step(0, (summarize(v_out),), (summarize(v_z),), (_jacobian(lambda t: t.mean(), z.detach()),)),
        Step(
            1,
            (summarize(v_z),),
            (summarize(vj_z_to_three_y), summarize(vj_z_to_y)),
            (
                _jacobian(lambda t: t * y.detach(), three_y.detach()),
                _jacobian(lambda t: three_y.detach() * t, y.detach()),
            ),
        ),
        Step(
            2,
            (summarize(v_three_y),),
            (summarize(vj_three_y_to_y), None),
            (_jacobian(lambda t: 3 * t, y.detach()), None),
        ),
        Step(3, (summarize(v_y),), (summarize(v_x),), (_jacobian(lambda t: t**2, x.detach()),)),
        Step(4, (summarize(v_x),), ()),
    )
    call = BackwardCall(1, "backward", _loc(7, "out.backward()"), graph, steps)
    events = (
        Event(
            0,
            "op",
            "Tensor.__pow__",
            _loc(3, "y = x ** 2"),
            inputs=(0,),
            outputs=(1,),
            grad_fn="PowBackward0",
        ),
        Event(
            1,
            "op",
            "Tensor.__rmul__",
            _loc(4, "z = 3 * y * y"),
            inputs=(1,),
            outputs=(2,),
            grad_fn="MulBackward0",
        ),
        Event(
            2,
            "op",
            "Tensor.__mul__",
            _loc(4, "z = 3 * y * y"),
            inputs=(2, 1),
            outputs=(3,),
            grad_fn="MulBackward0",
        ),
        Event(
            3,
            "op",
            "Tensor.mean",
            _loc(5, "out = z.mean()"),
            inputs=(3,),
            outputs=(4,),
            grad_fn="MeanBackward0",
        ),
        Event(4, "detach", "Tensor.detach", _loc(6, "c = y.detach()"), inputs=(1,), outputs=(5,)),
        Event(5, "backward", "Tensor.backward", _loc(7, "out.backward()"), inputs=(4,)),
    )
    return Trace("2.13.0", SCRIPT, 1, events, (call,))


def inplace_error() -> RuntimeError:
    """The error torch raises when PowBackward0 finds its saved x changed in place after the forward."""
    x = torch.ones(2, 2, requires_grad=True) * 1
    y = x**2
    x.add_(1)
    try:
        y.sum().backward()
    except RuntimeError as exc:
        return exc
    raise AssertionError("torch no longer checks the saved tensor's version")


def failed_trace() -> Trace:
    """The tutorial trace with a second call that raised in PowBackward0 (#3) after three steps.

    x's AccumulateGrad never ran, so x.grad is the first call's gradient before and after.
    """
    trace = tutorial_trace()
    first = trace.backwards[0]
    x = first.graph.nodes[4]
    assert x.tensor is not None
    grad = x.tensor.grad_after
    leaf = replace(x, tensor=replace(x.tensor, grad_before=grad, grad_after=grad))
    error = inplace_error()
    second = replace(
        first,
        index=2,
        location=_loc(9, "out.backward()"),
        graph=replace(first.graph, nodes=(*first.graph.nodes[:4], leaf)),
        steps=first.steps[:3],
        error=CallError(type(error).__name__, str(error), 3),
    )
    return replace(trace, backward_calls=2, backwards=(first, second))


def chain_trace(length: int) -> Trace:
    """A large synthetic trace shaped like a deep network: a chain of ops, each third one using a
    parameter (its own AccumulateGrad leaf), and a skip link every fifth node.

    Args:
        length: Number of nodes, about a third of them leaves.

    Returns:
        One backward call that ran every node once, with 4-element values.
    """
    value = Value((2, 2), "float32", ((1.0, 2.0), (3.0, 4.0)), 1.0, 4.0, 2.5, 5.477)
    nodes: list[Node] = []
    edges: list[Edge] = []
    previous_op: int | None = None
    ops: list[int] = []
    while len(nodes) < length:
        ident = len(nodes)
        nodes.append(
            Node(
                ident,
                f"Op{ident % 7}Backward0",
                _loc(ident + 1, f"t{ident} = f()"),
                _info(f"t{ident}", torch.ones(2, 2)),
            )
        )
        if previous_op is not None:
            edges.append(Edge(previous_op, ident, (0,)))
        if len(ops) >= 5 and len(ops) % 5 == 0 and previous_op is not None:
            edges.append(Edge(ops[-5], ident, (1,)))
        ops.append(ident)
        previous_op = ident
        if ident % 3 == 0 and len(nodes) < length:
            leaf = len(nodes)
            grad = value
            info = TensorInfo(f"w{leaf}", (2, 2), "float32", "cpu", is_leaf=True, grad_after=grad)
            nodes.append(Node(leaf, "AccumulateGrad", None, info))
            edges.append(Edge(ident, leaf, (2,)))
    slots: dict[int, int] = {}
    for edge in edges:
        slots[edge.source] = max(slots.get(edge.source, 0), max(edge.slots) + 1)
    steps = tuple(Step(node.id, (value,), (value,) * slots.get(node.id, 0)) for node in nodes)
    graph = Graph(tuple(nodes), tuple(edges), (Root(0, "loss", value),))
    return Trace(
        "2.13.0", "big.py", 1, (), (BackwardCall(1, "backward", _loc(1, "loss.backward()"), graph, steps),)
    )


def module_trace(cells: int = 1000) -> Trace:
    """A recurrent model as module hooks would record it: a cell (``rnn.cell``, a Linear then a
    Tanh) called once per time step, then a head; about six nodes per step.

    Args:
        cells: Time steps; 1000 gives a 6,000-node graph.

    Returns:
        One backward call that ran every node once (roots first), with modules recorded.
    """
    value = Value((2, 2), "float32", ((1.0, 2.0), (3.0, 4.0)), 1.0, 4.0, 2.5, 5.477)
    nodes: list[Node] = [Node(0, "MseLossBackward0", _loc(9, "loss = f(out)"), module=None)]
    edges: list[Edge] = []
    nodes.append(Node(1, "AddmmBackward0", _loc(8, "out = model(x)"), module="head"))
    nodes.append(
        Node(2, "AccumulateGrad", None, _info("head.weight", torch.ones(2, 2), leaf=True), module="head")
    )
    edges += [Edge(0, 1, (0,)), Edge(1, 2, (1,))]
    previous = 1
    for _ in range(cells):
        base = len(nodes)
        names = (
            "TanhBackward0",
            "AddmmBackward0",
            "TBackward0",
            "AccumulateGrad",
            "AccumulateGrad",
            "ViewBackward0",
        )
        modules = (
            "rnn.cell.act",
            "rnn.cell.linear",
            "rnn.cell.linear",
            "rnn.cell.linear",
            "rnn.cell.linear",
            "rnn",
        )
        for offset, (name, module) in enumerate(zip(names, modules, strict=True)):
            leaf = name == "AccumulateGrad"
            info = _info(f"w{base + offset}", torch.ones(2, 2), leaf=True) if leaf else None
            nodes.append(Node(base + offset, name, _loc(5, "h = self.cell(x[t], h)"), info, module=module))
        edges += [
            Edge(previous, base, (0,)),
            Edge(base, base + 1, (0,)),
            Edge(base + 1, base + 4, (0,)),
            Edge(base + 1, base + 2, (1,)),
            Edge(base + 2, base + 3, (0,)),
            Edge(base + 1, base + 5, (2,)),
        ]
        previous = base + 5
    modules_info = (
        ModuleInfo("", "Model", 1),
        ModuleInfo("head", "Linear", 1),
        ModuleInfo("rnn", "RNN", cells),
        ModuleInfo("rnn.cell", "Cell", cells),
        ModuleInfo("rnn.cell.linear", "Linear", cells),
        ModuleInfo("rnn.cell.act", "Tanh", cells),
    )
    steps = tuple(Step(node.id, (value,), ()) for node in nodes)
    graph = Graph(tuple(nodes), tuple(edges), (Root(0, "loss", value),), (), modules_info)
    return Trace(
        "2.13.0", SCRIPT, 1, (), (BackwardCall(1, "backward", _loc(10, "loss.backward()"), graph, steps),)
    )
