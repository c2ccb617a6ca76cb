"""The teaching lines every view shares: a node's local J, its saved values, a non-leaf's ``.grad``,
the root's v, and the whole call as one vector-Jacobian product.

Pure text, so the SVG, the HTML player, the terminal tree, the stderr summary and the TUI say the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from gradviz.model import BackwardCall, Graph, Node, Root, Value
from gradviz.render.dataedits import overlay_lines
from gradviz.render.jacobian import call_jacobian, flatten
from gradviz.render.state import StepState
from gradviz.render.tensortext import join_blocks, matrix_lines, value_lines
from gradviz.render.values import format_value

__all__ = [
    "NOT_RETAINED",
    "NO_V_GIVEN",
    "VJP_NAME",
    "WHOLE_CALL",
    "attribute_text",
    "local_jacobian_lines",
    "non_leaf_grad_text",
    "overlay_note_lines",
    "retained_grad_text",
    "root_v_text",
    "whole_call_lines",
]

#: The drawn element of the whole-call panel, named as in the SVG's ``<title>`` (the player reveals it last).
WHOLE_CALL = "jacobian"
#: Backward computes v^T J, whatever a comment calls it.
VJP_NAME = "vector-Jacobian product v^T J"
#: Why a non-leaf shows no ``.grad``.
NOT_RETAINED = ".grad: None, not retained (retain_grad() keeps v)"
_JVP_WORDS = ("jacobian-vector", "jacobian vector")


def attribute_text(node: Node) -> str | None:
    """The node's non-tensor saved values in one line, e.g. ``"exponent: 2"``; None when it has none."""
    if not node.attributes:
        return None
    return ", ".join(f"{name}: {text}" for name, text in node.attributes)


def non_leaf_grad_text(node: Node) -> str | None:
    """For a non-leaf tensor that does not retain its grad, the line saying its ``.grad`` is None."""
    tensor = node.tensor
    if node.is_accumulate_grad or tensor is None or tensor.retains_grad:
        return None
    return NOT_RETAINED


def retained_grad_text(node: Node, grad: Value | None, *, values: bool = True) -> str | None:
    """For a non-leaf tensor with ``retain_grad()``, the line giving the ``.grad`` it kept, else None.

    Args:
        node: A graph node.
        grad: The tensor's ``.grad`` at the moment shown (the v its node received, once it ran).
        values: Show values of small tensors (else the shape).

    Returns:
        ``"g.grad: [3, 6, 9], kept by retain_grad()"``, or None for a leaf or a non-retaining tensor.
    """
    tensor = node.tensor
    if node.is_accumulate_grad or tensor is None or not tensor.retains_grad:
        return None
    return f"{tensor.label or 'its'}.grad: {format_value(grad, values=values)}, kept by retain_grad()"


#: A backward call's root with no v: backward() was given none, and only a scalar gets v = 1 implied.
NO_V_GIVEN = "v: none given (v = 1 is implied only for a scalar)"


def overlay_note_lines(graph: Graph, node_id: int) -> list[str]:
    """What autograd did not record about this node's tensor (no_grad, detach, in-place, .data), in full.

    Args:
        graph: The graph with its overlays.
        node_id: The node they hang off.

    Returns:
        One line per overlay: ``"no_grad: d: no_grad: not recorded, no grad_fn (f.py:16)"``, with why a
        harmless ``.data`` edit changed no gradient.
    """
    lines = []
    for overlay in graph.overlays:
        if overlay.attached_to != node_id:
            continue
        head = f"{overlay.kind}: {overlay.label}" if overlay.label else overlay.kind
        where = f" ({overlay.location})" if overlay.location is not None else ""
        lines.append(" ".join([f"{head}: {overlay.text}{where}", *overlay_lines(overlay)]))
    return lines


def root_verb(api: str) -> str:
    """What a root's box is headed with: ``grad()`` for a ``torch.autograd.grad`` call, else ``backward()``.

    Args:
        api: The call's `BackwardCall.api` (``"backward"`` for a snapshot, which has no call).

    Returns:
        ``"grad()"`` or ``"backward()"``.
    """
    return "grad()" if api == "grad" else "backward()"


def root_v_text(root: Root, *, values: bool = True, max_values: int = 8, called: bool = False) -> str:
    """The v a root starts from: ``v = 1 = dL/dL`` for a scalar backward, ``not run yet`` before one.

    Args:
        root: A root of the graph.
        values: Show values of small tensors.
        max_values: Largest tensor written out.
        called: Whether the root belongs to a backward call (which then had no v) rather than a snapshot.

    Returns:
        One line.
    """
    gradient = root.gradient
    if gradient is None:
        return NO_V_GIVEN if called else "v: not run yet (no backward() on this graph)"
    if gradient.shape == () and gradient.values == 1:
        return "v = 1 = dL/dL (scalar backward)"
    return f"v = {format_value(gradient, max_values=max_values, values=values)}"


def _slot_targets(graph: Graph, node_id: int) -> dict[int, int]:
    return {slot: edge.target for edge in graph.edges if edge.source == node_id for slot in edge.slots}


def _input_name(graph: Graph, target: int) -> str | None:
    """The user's name for the tensor a node's input slot leads to, where known."""
    if not 0 <= target < len(graph.nodes):
        return None
    tensor = graph.node(target).tensor
    return tensor.label if tensor is not None and tensor.label else None


def _input_heads(graph: Graph, slots: dict[int, int]) -> dict[int, str]:
    """Each input's "J to ..." head: its tensor's name, or its position where that is unknown or shared.

    Two inputs from the same kind of node (``g * h``, both MulBackward0) or the same tensor (``w * w``)
    would otherwise read as one J written twice.
    """
    names = {slot: _input_name(graph, target) for slot, target in slots.items()}
    heads: dict[int, str] = {}
    for slot, target in slots.items():
        name = names[slot]
        if name is not None and list(names.values()).count(name) == 1:
            heads[slot] = f"J to {name}"
            continue
        kind = name or (graph.node(target).name if 0 <= target < len(graph.nodes) else f"#{target}")
        heads[slot] = f"J to input {slot} ({kind})"
    return heads


def local_jacobian_lines(graph: Graph, state: StepState, node_id: int, *, max_columns: int = 8) -> list[str]:
    """A node's local Jacobian per input, written out, once the node has run (``vJ = v @ J``).

    Args:
        graph: The graph the node belongs to.
        state: The step state (its `StepState.jacobians`).
        node_id: The node.
        max_columns: Matrices wider or taller than this are summarised in one line.

    Returns:
        ``"J to <input> ="`` followed by the rows, per input; empty when no J was recorded. The input
        is its tensor's name (``J to x``), or its position where the name is unknown or shared by two
        inputs (``J to input 0 (MulBackward0)``, ``J to input 1 (w)``).
    """
    jacobians = state.jacobians.get(node_id, ())
    targets = _slot_targets(graph, node_id)
    recorded = {
        slot: targets[slot] for slot, matrix in enumerate(jacobians) if matrix is not None and slot in targets
    }
    heads = _input_heads(graph, recorded)
    lines: list[str] = []
    for slot, matrix in enumerate(jacobians):
        if matrix is None or slot not in heads:
            continue
        head = heads[slot]
        if len(matrix.shape) == 2 and max(matrix.shape) > max_columns:
            lines.append(f"{head}: {matrix.shape[0]}x{matrix.shape[1]} matrix")
            continue
        rows = matrix_lines(matrix)
        lines.append(f"{head} = {rows[0]}" if len(rows) == 1 else f"{head} =")
        if len(rows) > 1:
            lines.extend(f"  {row}" for row in rows)
    return lines


def says_jacobian_vector(call: BackwardCall) -> bool:
    """Whether the call's line (a comment on it) calls backward a "Jacobian-vector product"."""
    code = call.location.code if call.location is not None else None
    return code is not None and any(words in code.lower() for words in _JVP_WORDS)


def _vector_lines(value: Value | None) -> list[str]:
    return value_lines(value) if value is not None else ["(not recorded)"]


def whole_call_lines(
    call: BackwardCall, *, non_scalar_only: bool = False, width: int | None = None
) -> list[str]:
    """The whole call as one product, for a small call: dy/dx, v as a row and v @ dy/dx = x.grad's share.

    Args:
        call: A captured call.
        non_scalar_only: Nothing for a scalar backward (its J is one row: the gradient itself), for
            views that already show the leaves' gradients.
        width: Widest line wanted for ``v @ J = v J`` side by side; wider, the three are stacked.

    Returns:
        Text lines; empty when the call is too large, has several roots, or a node on the way has no
        recorded local Jacobian (see `gradviz.render.jacobian.call_jacobian`).
    """
    whole = call_jacobian(call)
    if whole is None or (non_scalar_only and (whole.v is None or whole.v.numel <= 1)):
        return []
    y = whole.root or "y"
    lines = [f"The whole call: {VJP_NAME}"]
    if says_jacobian_vector(call):
        lines.append("(the comment says Jacobian-vector; backward computes the vector-Jacobian product)")
    adds = "added into" if call.api == "backward" else "returned as"
    for entry in whole.inputs:
        x = entry.label or f"leaf #{entry.node}"
        target = f"{x}.grad" if call.api == "backward" else f"grad for {x}"
        lines.append(f"{x}: J = d{y}/d{x} is {entry.jacobian.shape[0]} x {entry.jacobian.shape[1]}")
        v_row = Value((1, whole.v.numel), whole.v.dtype, (_flat_tuple(whole.v),)) if whole.v else None
        blocks = [_vector_lines(v_row), matrix_lines(entry.jacobian), _vector_lines(entry.vjp)]
        widths = [max(len(line) for line in block) for block in blocks]
        heads = ("v (row)", f"J = d{y}/d{x}", "v J")
        header = "     ".join(head.ljust(size) for head, size in zip(heads, widths, strict=True))
        side = [header.rstrip(), *join_blocks(blocks, ["  @  ", "  =  "])]
        if width is not None and max(len(line) for line in side) + 2 > width:
            side = _stacked(zip(("v (row)", heads[1], "v J = v @ J"), blocks, strict=True))
        lines.extend("  " + line for line in side)
        lines.append(f"  v J is what this call {adds} {target}")
    return lines


def _stacked(terms: Iterable[tuple[str, list[str]]]) -> list[str]:
    """``v @ J = v J`` one term under the other, for a pane too narrow for them side by side."""
    lines: list[str] = []
    for head, block in terms:
        if len(block) == 1:
            lines.append(f"{head} = {block[0]}")
        else:
            lines.extend([f"{head} =", *("  " + line for line in block)])
    return lines


def _flat_tuple(value: Value) -> tuple[float | int | bool | complex, ...]:
    return tuple(flatten(value.values)) if value.values is not None else ()
