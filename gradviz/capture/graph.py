"""Walk the autograd graph: every node reachable from the roots through ``next_functions``, once.

The walk is iterative (a 100,000-node chain must not hit Python's recursion limit) and gives nodes
sequential ids in breadth-first order from the roots, so the same program gives the same ids.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.autograd.graph import get_gradient_edge

from gradviz.capture.attributes import saved_attributes
from gradviz.capture.isolation import isolated
from gradviz.capture.moduleinfo import module_paths
from gradviz.capture.names import NameMap
from gradviz.capture.origin import origin_of
from gradviz.capture.savedview import SavedReader
from gradviz.capture.summary import dtype_name, summarize_optional
from gradviz.model import Edge, Graph, Node, Root, SavedTensor, TensorInfo, Value


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
    queue: deque[Any] = deque()

    def visit(fn: Any) -> int:
        key = id(fn)
        node_id = result.index.get(key)
        if node_id is None:
            node_id = len(result.fns)
            result.index[key] = node_id
            result.fns.append(fn)
            queue.append(fn)
        return node_id

    for root in roots:
        fn = root if _is_node(root) else root_node(root)
        if fn is not None:
            visit(fn)
    while queue:
        fn = queue.popleft()
        source = result.index[id(fn)]
        slots_by_target: dict[int, list[int]] = {}
        for slot, (next_fn, _input_nr) in enumerate(fn.next_functions):
            if next_fn is not None:
                slots_by_target.setdefault(visit(next_fn), []).append(slot)
        result.edges.extend(
            Edge(source=source, target=target, slots=tuple(slots))
            for target, slots in slots_by_target.items()
        )
    return result


def _is_node(candidate: Any) -> bool:
    return hasattr(candidate, "next_functions") and not isinstance(candidate, torch.Tensor)


_DEVICE_NAMES: dict[torch.device, str] = {}


def _device_name(device: torch.device) -> str:
    name = _DEVICE_NAMES.get(device)
    if name is None:
        name = _DEVICE_NAMES[device] = str(device)
    return name


def tensor_info(
    tensor: torch.Tensor,
    label: str | None,
    *,
    grad_before: Value | None = None,
    grad_after: Value | None = None,
    tensor_id: int | None = None,
) -> TensorInfo:
    """Describe a live tensor (shape, dtype, device, grad flags) without keeping it."""
    return TensorInfo(
        label=label,
        shape=tuple(tensor.shape),
        dtype=dtype_name(tensor.dtype),
        device=_device_name(tensor.device),
        requires_grad=bool(tensor.requires_grad),
        is_leaf=bool(tensor.is_leaf),
        retains_grad=bool(tensor.retains_grad),
        grad_before=grad_before,
        grad_after=grad_after,
        version=int(tensor._version),
        id=tensor_id,
    )


def _produced_tensor_info(
    fn: Any, named: tuple[torch.Tensor, str] | None, tensor_id: int | None
) -> TensorInfo | None:
    if named is not None:
        return tensor_info(named[0], named[1], tensor_id=tensor_id)
    metadata = getattr(fn, "_input_metadata", None)
    if not metadata:
        return None
    # _input_metadata describes the gradients this node receives, i.e. the tensors it produced.
    first = metadata[0]
    return TensorInfo(
        label=None,
        shape=tuple(first.shape),
        dtype=dtype_name(first.dtype),
        device=_device_name(first.device),
        id=tensor_id,
    )


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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector for the block.

    The many small records a walk makes hold no cycles, yet their number triggers full collections,
    each of which scans the user's whole heap (model included); the collector can wait until the end.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _describe(walked: GraphWalk, context: WalkContext, roots: Sequence[Root]) -> Graph:
    names = context.names
    named_fns = names.grad_fn_names()
    module_of, modules = module_paths(walked.fns, names)
    leaf_of = {id(fn.variable): node_id for node_id, fn in enumerate(walked.fns) if _is_accumulate(fn)}
    index = walked.index
    grads_before, grads_after = context.leaf_grads_before, context.leaf_grads_after

    def source(tensor: torch.Tensor) -> int | None:
        grad_fn = tensor.grad_fn
        if grad_fn is not None:
            return index.get(id(grad_fn))
        return leaf_of.get(id(tensor)) if tensor.requires_grad else None

    read = SavedReader(names, source)
    include_saved = context.include_saved
    tensor_id = context.tensor_id
    nodes: list[Node] = []
    append = nodes.append
    for node_id, fn in enumerate(walked.fns):
        origin = origin_of(fn)
        name = type(fn).__name__
        saved: tuple[SavedTensor, ...] = ()
        attributes: tuple[tuple[str, str], ...] = ()
        if name == "AccumulateGrad":
            leaf = fn.variable
            after = grads_after[node_id] if node_id in grads_after else summarize_optional(leaf.grad)
            info: TensorInfo | None = tensor_info(
                leaf,
                names.name_of(leaf),
                grad_before=grads_before.get(node_id),
                grad_after=after,
                tensor_id=tensor_id(leaf),
            )
        else:
            info = _produced_tensor_info(fn, named_fns.get(id(fn)), origin.tensor_id if origin else None)
            if include_saved:
                saved = read(fn, origin)
                attributes = saved_attributes(fn)
        append(
            Node(
                id=node_id,
                name=name,
                location=origin.location if origin else None,
                tensor=info,
                saved=saved,
                event=origin.event if origin else None,
                module=module_of[node_id],
                attributes=attributes,
            )
        )
    return Graph(nodes=tuple(nodes), edges=tuple(walked.edges), roots=tuple(roots), modules=modules)


def _is_accumulate(fn: Any) -> bool:
    return type(fn).__name__ == "AccumulateGrad"
