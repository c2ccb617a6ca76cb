"""Explicit local Jacobians of small backward nodes.

A node computes vJ for whatever v it is given, so calling it once per basis vector e_i of its output
gives J row by row. Calling a node directly (under no_grad) runs neither hooks nor the engine and
leaves a later backward undisturbed. Three kinds of node are never called: AccumulateGrad, which would
add into the leaf's ``.grad``; custom ``autograd.Function`` nodes, whose user code could print or have
other side effects the user would see; and nodes whose saved tensors run an unpack hook (checkpointing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.summary import summarize
from gradviz.capture.unpack import has_unpack_hook
from gradviz.model import Value

#: Jacobians are computed only when the output and every input have at most this many elements.
MAX_JACOBIAN_NUMEL = 16

#: ... and only in graphs of at most this many nodes: there a learner reads them node by node; in a
#: bigger graph nobody does, and each costs one call of the node per output element.
MAX_GRAPH_NODES = 100


def worth_computing(node_count: int) -> bool:
    """Whether local Jacobians teach anything in a graph of this size."""
    return node_count <= MAX_GRAPH_NODES


def is_callable_node(grad_fn: Any) -> bool:
    """Whether calling this node has no effect beyond returning its vJ."""
    if type(grad_fn).__name__ == "AccumulateGrad":
        return False
    if isinstance(grad_fn, torch.autograd.function.BackwardCFunction):
        return False
    # Calling it would unpack its saved tensors: once too often for checkpointing.
    return not has_unpack_hook(grad_fn)


def local_jacobians(grad_fn: Any, grad_outputs: Sequence[torch.Tensor | None]) -> tuple[Value | None, ...]:
    """The Jacobian of a node with respect to each of its ``next_functions`` slots.

    Args:
        grad_fn: The node, before or while autograd runs it (its saved tensors must still exist).
        grad_outputs: The v the engine gave it; only its shape, dtype and device are used.

    Returns:
        One (numel of output x numel of input) matrix per slot, None for a slot with no gradient.
        Empty when the node has several outputs, is too large, or is not safe to call.
    """
    if len(grad_outputs) != 1 or grad_outputs[0] is None:
        return ()
    template = grad_outputs[0]
    count = template.numel()
    if count == 0 or count > MAX_JACOBIAN_NUMEL or template.is_complex() or not template.is_floating_point():
        return ()
    if not is_callable_node(grad_fn):
        return ()
    shapes = _slot_shapes(grad_fn)
    with torch.no_grad():
        basis = torch.eye(count, dtype=template.dtype, device=template.device)
        rows: list[tuple[torch.Tensor | None, ...]] = []
        for position in range(count):
            result = grad_fn(basis[position].reshape(template.shape))
            row = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            row = tuple(_as_received(item, shapes, slot) for slot, item in enumerate(row))
            if any(item is not None and item.numel() > MAX_JACOBIAN_NUMEL for item in row):
                return ()
            rows.append(row)
        return tuple(_stack_column(rows, slot) for slot in range(len(rows[0])))


def _slot_shapes(grad_fn: Any) -> list[torch.Size | None]:
    """The shape the node in each ``next_functions`` slot takes its gradient in (None where unknown)."""
    shapes: list[torch.Size | None] = []
    for target, input_nr in grad_fn.next_functions:
        if target is None:
            shapes.append(None)
        elif type(target).__name__ == "AccumulateGrad":
            shapes.append(target.variable.shape)
        else:
            shapes.append(_input_shape(target, input_nr))
    return shapes


def _input_shape(target: Any, input_nr: int) -> torch.Size | None:
    # The node's input metadata is what the engine sums a broadcast gradient to; not public API.
    try:
        shape: torch.Size = target._input_metadata[input_nr].shape
    except (AttributeError, IndexError, RuntimeError, TypeError):
        return None
    return shape


def _as_received(
    item: torch.Tensor | None, shapes: list[torch.Size | None], slot: int
) -> torch.Tensor | None:
    """A slot's vJ as the next node receives it: the engine sums a broadcast input's gradient to its shape."""
    shape = shapes[slot] if slot < len(shapes) else None
    if item is None or shape is None or item.shape == shape:
        return item
    try:
        return item.sum_to_size(shape)
    except RuntimeError:
        return item


def _stack_column(rows: list[tuple[torch.Tensor | None, ...]], slot: int) -> Value | None:
    pieces = [row[slot] for row in rows]
    if any(piece is None for piece in pieces):
        return None
    matrix = torch.stack([piece.reshape(-1) for piece in pieces if piece is not None])
    return summarize(matrix, max_values=MAX_JACOBIAN_NUMEL * MAX_JACOBIAN_NUMEL)
