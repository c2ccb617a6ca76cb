"""Walk the autograd graph: every node reachable from the roots through ``next_functions``, once.

The walk is iterative (a 100,000-node chain must not hit Python's recursion limit) and gives nodes
sequential ids in breadth-first order from the roots, so the same program gives the same ids.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.autograd.graph import get_gradient_edge

from gradviz.capture.isolation import isolated
from gradviz.capture.names import NameMap
from gradviz.capture.nodeview import describe_nodes, tensor_info
from gradviz.capture.records import make_edge
from gradviz.model import Edge, Graph, Root, Value

__all__ = ["GraphWalk", "WalkContext", "collector_paused", "describe", "root_node", "tensor_info", "walk"]


def root_node(root: Any) -> Any | None:
    """The autograd node that backward starts from for a tensor or ``GradientEdge`` root.

    A leaf that requires grad has no grad_fn; its gradient goes to its AccumulateGrad node.
    """
    if isinstance(root, torch.Tensor):
        if root.grad_fn is not None:
            return root.grad_fn
        if root.requires_grad:
            return get_gradient_edge(root).node
        return None
    return getattr(root, "node", None)


@dataclass
class GraphWalk:
    """The live result of a walk: model nodes plus the grad_fn objects they came from.

    Holds strong references to the grad_fns (and, through AccumulateGrad, the leaves), so keep it only
    for the duration of one capture.

    Attributes:
        fns: The grad_fn objects, indexed by node id.
        edges: The distinct next_functions links.
        index: ``id(grad_fn)`` to node id; valid while ``fns`` keeps the objects alive.
    """

    fns: list[Any] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    index: dict[int, int] = field(default_factory=dict)

    def node_id(self, grad_fn: Any) -> int | None:
        """The id of a grad_fn in this walk, or None if it is not part of the graph."""
        return self.index.get(id(grad_fn))

    def leaf_node_id(self, tensor: torch.Tensor) -> int | None:
        """The id of the node a tensor belongs to: its grad_fn, or its AccumulateGrad for a leaf."""
        if tensor.grad_fn is not None:
            return self.node_id(tensor.grad_fn)
        if not tensor.requires_grad:
            return None
        return self.node_id(get_gradient_edge(tensor).node)


def walk(roots: Iterable[Any]) -> GraphWalk:
    """Find every node reachable from the roots through ``next_functions``, breadth first.

    Args:
        roots: Tensors, ``GradientEdge``s or grad_fn nodes to start from.

    Returns:
        The nodes in walk order (roots first) and the distinct links among them.
    """
    result = GraphWalk()
    fns, index, edges = result.fns, result.index, result.edges
    for root in roots:
        fn = root if _is_node(root) else root_node(root)
        if fn is not None and id(fn) not in index:
            index[id(fn)] = len(fns)
            fns.append(fn)
    # The nodes list is the breadth-first queue: a node is appended when first seen, then visited in turn.
    source = 0
    add = edges.append
    while source < len(fns):
        links = fns[source].next_functions
        if len(links) == 1:  # most nodes: one link, no grouping to do
            next_fn = links[0][0]
            if next_fn is not None:
                target = index.get(id(next_fn))
                if target is None:
                    target = index[id(next_fn)] = len(fns)
                    fns.append(next_fn)
                add(make_edge(source, target, _SLOTS[0]))
        elif links:
            targets: list[int] = []
            for next_fn, _input_nr in links:
                if next_fn is None:
                    targets.append(-1)
                    continue
                target = index.get(id(next_fn))
                if target is None:
                    target = index[id(next_fn)] = len(fns)
                    fns.append(next_fn)
                targets.append(target)
            if len(set(targets)) < len(targets):
                edges.extend(_grouped_edges(source, targets))
            else:
                for slot, target in enumerate(targets):
                    if target >= 0:
                        add(make_edge(source, target, _SLOTS[slot] if slot < len(_SLOTS) else (slot,)))
        source += 1
    return result


#: One-slot tuples, shared: most links use a single slot.
_SLOTS = tuple((slot,) for slot in range(64))


def _grouped_edges(source: int, targets: list[int]) -> list[Edge]:
    """One edge per distinct target, with every slot that points to it (``x * x`` uses one link twice)."""
    slots_by_target: dict[int, list[int]] = {}
    for slot, target in enumerate(targets):
        if target >= 0:
            slots_by_target.setdefault(target, []).append(slot)
    return [Edge(source, target, tuple(slots)) for target, slots in slots_by_target.items()]


def _is_node(candidate: Any) -> bool:
    return not isinstance(candidate, torch.Tensor) and hasattr(candidate, "next_functions")


@dataclass(frozen=True)
class WalkContext:
    """What the walk can use to describe nodes beyond the bare graph.

    Attributes:
        names: The user's names for tensors.
        leaf_grads_before: Per AccumulateGrad node id, the leaf's ``.grad`` when the call started.
        leaf_grads_after: Likewise when the call ended.
        tensor_id: gradviz's id for a live tensor, when the forward recorder saw it.
        include_saved: Whether to describe saved tensors.
    """

    names: NameMap = field(default_factory=NameMap)
    leaf_grads_before: dict[int, Value | None] = field(default_factory=dict)
    leaf_grads_after: dict[int, Value | None] = field(default_factory=dict)
    tensor_id: Callable[[torch.Tensor], int | None] = lambda tensor: None
    include_saved: bool = True


def describe(walked: GraphWalk, context: WalkContext, roots: Sequence[Root] = ()) -> Graph:
    """Turn a walk into model nodes: names, locations, produced tensors and saved tensors.

    Args:
        walked: The result of `walk`.
        context: Names, leaf gradients and tensor ids to attach.
        roots: The roots to record on the graph.

    Returns:
        A frozen `Graph` holding no torch objects.
    """
    # One isolated block for the whole walk: reading tensor attributes under the mode would otherwise
    # pass through it once per attribute.
    with collector_paused(), isolated():
        return _describe(walked, context, roots)


class collector_paused:
    """Hold off Python's cyclic garbage collector for the block.

    The many small records a walk makes hold no cycles, yet their number triggers full collections,
    each of which scans the user's whole heap (model included); the collector can wait until the end.
    """

    __slots__ = ("_collecting",)

    def __enter__(self) -> None:
        self._collecting = gc.isenabled()
        if self._collecting:
            gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self._collecting:
            gc.enable()


def _describe(walked: GraphWalk, context: WalkContext, roots: Sequence[Root]) -> Graph:
    return describe_nodes(walked.fns, walked.index, context, roots, walked.edges)
