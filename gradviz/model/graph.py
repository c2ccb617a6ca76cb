"""The autograd graph: nodes, edges, roots, overlays and modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gradviz.model.values import Location, SavedTensor, Severity, TensorInfo, Value


@dataclass(frozen=True, slots=True)
class Node:
    """One autograd Node (``grad_fn``), reachable from the roots through ``next_functions``.

    Attributes:
        id: Sequential id within its graph.
        name: ``type(grad_fn).__name__``: ``MulBackward0``, ``AccumulateGrad``, ...
        location: The user's line that created it, where known (forward tracing was on).
        tensor: The tensor it produced (for AccumulateGrad, the leaf), where known.
        saved: The tensors it saved for backward.
        event: Id of the forward event that created it, where known.
        module: Path of the ``nn.Module`` call that produced it (``encoder.layers.3.self_attn``), where
            known.
        freed_by: When an earlier captured call already ran this node without ``retain_graph=True``,
            that call's index: autograd freed the node's saved tensors then.
        attributes: The non-tensor values it saved for backward, as ``(name, text)`` pairs without the
            ``_saved_`` prefix (Pow's ``("exponent", "2")``, Sum's ``("dim", "(0,)")``).
    """

    id: int
    name: str
    location: Location | None = None
    tensor: TensorInfo | None = None
    saved: tuple[SavedTensor, ...] = ()
    event: int | None = None
    module: str | None = None
    freed_by: int | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def is_accumulate_grad(self) -> bool:
        """Whether this node accumulates into a leaf's ``.grad``."""
        return self.name == "AccumulateGrad"


@dataclass(frozen=True, slots=True)
class Edge:
    """A ``next_functions`` link, in the backward direction: ``source`` sends its vJ to ``target``.

    Attributes:
        source: Id of the node whose ``next_functions`` holds the link ("from" in trace.json).
        target: Id of the node it points to ("to" in trace.json).
        slots: Positions in ``source.next_functions`` that point to ``target`` (one link may be
            used twice, as in ``x * x``).
    """

    source: int
    target: int
    slots: tuple[int, ...] = (0,)


@dataclass(frozen=True, slots=True)
class Root:
    """A tensor that backward started from.

    Attributes:
        node: Id of its grad_fn node (its AccumulateGrad node if it is itself a leaf).
        label: The user's name for it, where found.
        gradient: The v it was given (``gradient=`` / ``grad_outputs=``, or the implicit 1 for a scalar).
    """

    node: int
    label: str | None = None
    gradient: Value | None = None


OverlayKind = Literal["no_grad", "detach", "inplace", "data_edit", "requires_grad_off"]


@dataclass(frozen=True, slots=True)
class Overlay:
    """Something autograd did not record, drawn beside the graph.

    Attributes:
        id: Sequential id among the overlays of one graph.
        kind: What happened: a tensor made under ``no_grad``, a ``detach()``, an in-place op
            (version bump), or a ``.data`` edit.
        label: The user's name for the tensor involved, where found.
        text: One line saying what happened, for the drawing.
        location: The line where it happened.
        attached_to: Id of the graph node it hangs off (the node whose tensor it came from).
        event: Id of the forward event it comes from.
        severity: ``"warning"`` when a finding says this probably broke a gradient (a ``.data`` edit that
            backward read, a cut that left trained parameters without gradient), else ``"note"``.
    """

    id: int
    kind: OverlayKind
    label: str | None
    text: str
    location: Location | None = None
    attached_to: int | None = None
    event: int | None = None
    severity: Severity = "note"


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """An ``nn.Module`` whose forward produced nodes of a graph (see `Node.module`).

    Attributes:
        path: Its dotted path, as ``named_modules()`` of the outermost module called gives it
            (``encoder.layers.3.self_attn``); ``""`` for that outermost module itself.
        type: Its class name (``MultiheadAttention``).
        calls: How many of its forward calls produced nodes of this graph (an RNN cell called for
            999 time steps: 999).
    """

    path: str
    type: str
    calls: int = 1


@dataclass(frozen=True, slots=True)
class Graph:
    """An autograd graph: every node reachable from the roots, once, and the links among them.

    Attributes:
        nodes: The nodes, ids 0..n-1 in walk order (roots first).
        edges: The distinct ``next_functions`` links among them.
        roots: Where backward starts.
        overlays: What autograd did not record (no_grad, detach, in-place, .data), when traced.
        modules: The modules named by the nodes' `Node.module` (and their parents), when recorded.
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    roots: tuple[Root, ...] = ()
    overlays: tuple[Overlay, ...] = ()
    modules: tuple[ModuleInfo, ...] = ()

    def node(self, node_id: int) -> Node:
        """The node with this id."""
        return self.nodes[node_id]

    def children(self, node_id: int) -> tuple[int, ...]:
        """Ids of the nodes this node sends gradients to (its ``next_functions``)."""
        return tuple(edge.target for edge in self.edges if edge.source == node_id)

    @property
    def leaves(self) -> tuple[Node, ...]:
        """The AccumulateGrad nodes, one per leaf tensor that receives a gradient."""
        return tuple(node for node in self.nodes if node.is_accumulate_grad)
