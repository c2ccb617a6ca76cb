"""Turn walked grad_fns into model nodes: names, lines, produced tensors and saved tensors.

This runs once per node of every graph gradviz records, so it reads each node as directly as autograd
allows: what a node type holds is found once per type (`kind_of`), and the records that depend only on
shapes (a big saved tensor's summary, an unnamed output's description) are made once and shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradviz.capture.attributes import saved_attributes
from gradviz.capture.moduleinfo import module_paths
from gradviz.capture.modules import ModuleCall, module_call_in
from gradviz.capture.names import NameMap
from gradviz.capture.nodekind import CUSTOM_SAVED, NodeKind, kinds_of
from gradviz.capture.origin import ORIGIN_KEY, NodeOrigin
from gradviz.capture.records import make_node, make_saved, make_tensor_info, make_value
from gradviz.capture.summary import MAX_VALUES, dtype_name, summarize_optional
from gradviz.capture.unpack import has_unpack_hook
from gradviz.model import Graph, Node, Root, SavedTensor, TensorInfo, Value

_Tensor = torch.Tensor
_STRIDED = torch.strided
_tolist = torch._C.TensorBase.tolist
#: Shared records are forgotten past this many, so a long session's caches stay small.
_MAX_SHARED = 20_000
_shaped: dict[tuple[Any, ...], Value] = {}
_outputs: dict[tuple[Any, ...], TensorInfo] = {}
_device_names: dict[torch.device, str] = {}


def device_name(device: torch.device) -> str:
    """``str(device)``, cached: ``"cpu"``, ``"cuda:0"``."""
    name = _device_names.get(device)
    if name is None:
        name = _device_names[device] = str(device)
    return name


def _freeze(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    if not values or not isinstance(values[0], list):
        return tuple(values)
    return tuple(_freeze(item) for item in values)


def saved_value(tensor: torch.Tensor) -> Value:
    """``summarize(tensor, stats=False)``: the values of a small tensor, else shape and dtype only.

    Args:
        tensor: A saved tensor.

    Returns:
        Its summary; the same object for every big tensor of one shape and dtype.
    """
    shape = tensor.shape
    if tensor.numel() > MAX_VALUES or tensor.layout != _STRIDED or tensor.is_meta:
        key = (shape, tensor.dtype)
        value = _shaped.get(key)
        if value is None:
            if len(_shaped) > _MAX_SHARED:
                _shaped.clear()
            value = _shaped[key] = Value(tuple(shape), dtype_name(tensor.dtype))
        return value
    listed = _tolist(tensor)
    values = tuple(listed) if len(shape) == 1 else _freeze(listed)  # 1-D: most small saved tensors
    return make_value(tuple(shape), dtype_name(tensor.dtype), values)


def _output_info(key: tuple[Any, ...], tensor_id: int | None) -> TensorInfo:
    """The tensor a node produced, from ``(shape, dtype, device)`` of autograd's ``_input_metadata``."""
    shape, dtype, device = key[0], dtype_name(key[1]), device_name(key[2])
    if tensor_id is not None:  # a traced tensor's own record: nothing to share
        return make_tensor_info(None, shape, dtype, device, True, False, False, None, None, None, tensor_id)
    if len(_outputs) > _MAX_SHARED:
        _outputs.clear()
    info = _outputs[key] = TensorInfo(None, shape, dtype, device)
    return info


def tensor_info(
    tensor: torch.Tensor,
    label: str | None,
    *,
    grad_before: Value | None = None,
    grad_after: Value | None = None,
    tensor_id: int | None = None,
) -> TensorInfo:
    """Describe a live tensor (shape, dtype, device, grad flags) without keeping it."""
    return make_tensor_info(
        label,
        tuple(tensor.shape),
        dtype_name(tensor.dtype),
        device_name(tensor.device),
        bool(tensor.requires_grad),
        bool(tensor.is_leaf),
        bool(tensor.retains_grad),
        grad_before,
        grad_after,
        int(tensor._version),
        tensor_id,
    )


class SavedTensors:
    """Saved tensors of the nodes of one graph, as model records, each distinct tensor summarised once.

    A tensor is often saved by several nodes (a weight by its matmul and its transpose). Holds the
    tensors it read until it is dropped, so that ``id()`` keys stay valid meanwhile.
    """

    def __init__(self, names: NameMap, source: Callable[[torch.Tensor], int | None]) -> None:
        self._names = names
        self._source = source
        self._seen: dict[int, tuple[torch.Tensor, Value, int | None, str | None]] = {}

    def __call__(self, grad_fn: Any, kind: NodeKind, origin: NodeOrigin | None) -> tuple[SavedTensor, ...]:
        """The node's saved tensors; empty once freed, or when reading them would run an unpack hook."""
        # Saved tensors made with no hooks pushed, or fingerprinted, have no unpack hook (cheap check).
        if (origin is None or not (origin.readable or origin.fingerprints)) and has_unpack_hook(grad_fn):
            return ()
        try:
            pairs = self._read(grad_fn, kind)
        except RuntimeError:
            # Saved tensors are freed by the first backward without retain_graph; reading them then raises.
            return ()
        seen, source, name_of = self._seen, self._source, self._names.name_of
        records = []
        for name, tensor in pairs:
            entry = seen.get(id(tensor))
            if entry is None or entry[0] is not tensor:
                entry = seen[id(tensor)] = (tensor, saved_value(tensor), source(tensor), name_of(tensor))
            records.append(make_saved(name, entry[1], entry[2], entry[3]))
        return tuple(records)

    @staticmethod
    def _read(grad_fn: Any, kind: NodeKind) -> list[tuple[str, torch.Tensor]]:
        if kind.read is None:  # a custom Function: its saved_tensors
            items = grad_fn.saved_tensors
            return [
                (f"{CUSTOM_SAVED}[{at}]", item) for at, item in enumerate(items) if isinstance(item, _Tensor)
            ]
        found: list[tuple[str, torch.Tensor]] = []
        # All of a node's saved values in one C call; a freed graph raises RuntimeError, as getattr does.
        for (_, name), value in zip(kind.saved, kind.read(grad_fn), strict=True):
            if isinstance(value, _Tensor):
                found.append((name, value))
            elif isinstance(value, (tuple, list)):  # e.g. the inputs of stack() or cat()
                found.extend(
                    (f"{name}[{index}]", item)
                    for index, item in enumerate(value)
                    if isinstance(item, _Tensor)
                )
        return found


def describe_nodes(
    fns: Sequence[Any],
    index: dict[int, int],
    context: Any,
    roots: Sequence[Root],
    edges: Sequence[Any],
) -> Graph:
    """The model `Graph` of walked grad_fns (see `gradviz.capture.graph.describe`).

    Args:
        fns: The grad_fns by node id.
        index: ``id(grad_fn)`` to node id.
        context: A `gradviz.capture.graph.WalkContext`.
        roots: The roots to record.
        edges: The walk's edges.

    Returns:
        A frozen `Graph` holding no torch objects.
    """
    names: NameMap = context.names
    named_fns = names.grad_fn_names()
    kinds = kinds_of(fns)
    origins: list[NodeOrigin | None] = []
    tags: list[ModuleCall | None] = []
    add_origin, add_tag = origins.append, tags.append
    for fn, kind in zip(fns, kinds, strict=True):
        try:
            metadata = fn.metadata
        except (AttributeError, RuntimeError):
            add_origin(None)
            add_tag(None)
            continue
        origin = metadata.get(ORIGIN_KEY)  # origin_in(metadata), inline: once per node
        add_origin(origin if isinstance(origin, NodeOrigin) else None)
        add_tag(None if kind.accumulate else module_call_in(metadata))
    module_of, modules = module_paths(fns, names, tags, kinds)
    leaf_of = {id(fn.variable): node_id for node_id, fn in enumerate(fns) if kinds[node_id].accumulate}
    grads_before, grads_after = context.leaf_grads_before, context.leaf_grads_after
    name_of = names.name_of

    def source(tensor: torch.Tensor) -> int | None:
        grad_fn = tensor.grad_fn
        if grad_fn is not None:
            return index.get(id(grad_fn))
        return leaf_of.get(id(tensor)) if tensor.requires_grad else None

    read = SavedTensors(names, source)
    include_saved = context.include_saved
    tensor_id = context.tensor_id
    outputs = _outputs
    nodes: list[Node] = []
    append = nodes.append
    for node_id, fn in enumerate(fns):
        kind = kinds[node_id]
        origin = origins[node_id]
        saved: tuple[SavedTensor, ...] = ()
        attributes: tuple[tuple[str, str], ...] = ()
        info: TensorInfo | None
        if origin is not None:
            made, location, event = origin.tensor_id, origin.location, origin.event
        else:
            made = location = event = None
        if kind.accumulate:
            leaf = fn.variable
            after = grads_after[node_id] if node_id in grads_after else summarize_optional(leaf.grad)
            info = make_tensor_info(  # tensor_info(leaf, ...), spelt out: one per leaf of every call
                name_of(leaf),
                tuple(leaf.shape),
                dtype_name(leaf.dtype),
                device_name(leaf.device),
                bool(leaf.requires_grad),
                bool(leaf.is_leaf),
                bool(leaf.retains_grad),
                grads_before.get(node_id),
                after,
                int(leaf._version),
                tensor_id(leaf),
            )
        else:
            named = named_fns.get(id(fn)) if named_fns else None
            if named is not None:
                info = tensor_info(named[0], named[1], tensor_id=made)
            else:
                # _input_metadata describes the gradients this node receives, i.e. the tensors it produced.
                metadata = getattr(fn, "_input_metadata", None)
                if not metadata:
                    info = None
                else:
                    first = metadata[0]
                    key = (tuple(first.shape), first.dtype, first.device)
                    info = outputs.get(key) if made is None else None
                    if info is None:
                        info = _output_info(key, made)
            if include_saved:
                if kind.saved:
                    saved = read(fn, kind, origin)
                if kind.plain:
                    attributes = saved_attributes(fn)
        append(
            make_node(node_id, kind.name, location, info, saved, event, module_of[node_id], None, attributes)
        )
    return Graph(tuple(nodes), tuple(edges), tuple(roots), (), modules)
