"""The whole call's Jacobian dy/dx, composed from the local Jacobians of the steps.

Backward never builds dy/dx: each node turns the v it receives into vJ with its own local J. For a
small call whose every node had its local Jacobian recorded, the chain rule composes them here, in run
order: the root starts from the identity, and each node passes ``M_node @ J_slot`` to the node in that
slot, summed where paths meet. Then ``v @ dy/dx`` is what backward added into each leaf's ``.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradviz.model import BackwardCall, Nested, Node, Value

__all__ = ["MAX_WHOLE_NUMEL", "CallJacobian", "InputJacobian", "call_jacobian", "flatten", "matrix_of"]

#: The whole-call panel is drawn when the root and the inputs have at most this many elements together.
MAX_WHOLE_NUMEL = 64

Matrix = list[list[float]]


@dataclass(frozen=True, slots=True)
class InputJacobian:
    """dy/dx for one input x of the call (a leaf, or a ``grad`` input).

    Attributes:
        node: Id of its node (AccumulateGrad for a leaf).
        label: The user's name for it, where known.
        jacobian: The (numel of y x numel of x) matrix.
        vjp: ``v @ jacobian``, shaped like x: what the call added into ``x.grad`` (None without v).
    """

    node: int
    label: str | None
    jacobian: Value
    vjp: Value | None


@dataclass(frozen=True, slots=True)
class CallJacobian:
    """The whole call as one matrix product: ``x.grad += v @ dy/dx``.

    Attributes:
        root: The root's label, where known.
        root_shape: Shape of the root y.
        v: The gradient backward started from, as a row vector (None when not recorded).
        inputs: One entry per input x, in graph order.
    """

    root: str | None
    root_shape: tuple[int, ...]
    v: Value | None
    inputs: tuple[InputJacobian, ...]


def flatten(values: Nested) -> list[float]:
    """Nested values as one flat list, in row-major order (as ``reshape(-1)``)."""
    if isinstance(values, tuple):
        return [number for item in values for number in flatten(item)]
    return [complex(values).real if isinstance(values, complex) else float(values)]


def matrix_of(value: Value | None) -> Matrix | None:
    """A 2-D summary's values as a list of rows, None when it is not a written-out matrix."""
    if value is None or len(value.shape) != 2 or value.values is None:
        return None
    rows, columns = value.shape
    flat = flatten(value.values)
    if len(flat) != rows * columns or not flat:
        return None
    return [flat[row * columns : (row + 1) * columns] for row in range(rows)]


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _reshape(flat: list[float], shape: tuple[int, ...]) -> Nested:
    if not shape:
        return flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return tuple(_reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0]))


def _product(left: Matrix, right: Matrix) -> Matrix:
    return [
        [sum(row[k] * right[k][j] for k in range(len(right))) for j in range(len(right[0]))] for row in left
    ]


def _add_into(store: dict[int, Matrix], node: int, matrix: Matrix) -> bool:
    """Add a path's share into a node's dy/d(node); False when the shapes disagree (a malformed trace)."""
    held = store.get(node)
    if held is None:
        store[node] = matrix
        return True
    if len(held[0]) != len(matrix[0]):
        return False
    store[node] = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(held, matrix, strict=True)]
    return True


def _compose(call: BackwardCall, root: Node, size: int) -> dict[int, Matrix] | None:
    slot_target = {(edge.source, slot): edge.target for edge in call.graph.edges for slot in edge.slots}
    store: dict[int, Matrix] = {root.id: [[float(i == j) for j in range(size)] for i in range(size)]}
    seen: set[int] = set()
    for step in call.steps:
        if step.node in seen or call.graph.node(step.node).is_accumulate_grad:
            continue
        seen.add(step.node)
        upstream = store.get(step.node)
        if upstream is None:
            continue
        for slot, grad in enumerate(step.grad_inputs):
            target = slot_target.get((step.node, slot))
            if grad is None or target is None:
                continue
            local = matrix_of(step.jacobians[slot]) if slot < len(step.jacobians) else None
            if local is None or len(local) != len(upstream[0]) or not local[0]:
                return None  # one node without its local J: the chain cannot be composed
            if not _add_into(store, target, _product(upstream, local)):
                return None
    return store


def call_jacobian(call: BackwardCall, *, max_numel: int = MAX_WHOLE_NUMEL) -> CallJacobian | None:
    """Compose dy/dx of a small call from its steps' local Jacobians.

    Args:
        call: A captured call with one root.
        max_numel: Largest number of elements of the root and the inputs together.

    Returns:
        The composed Jacobian, or None when the call has several roots, is larger than `max_numel`,
        failed, or a node on the way has no recorded local Jacobian.
    """
    graph = call.graph
    if len(graph.roots) != 1 or not call.steps or call.error is not None:
        return None
    known = range(len(graph.nodes))
    ids = [graph.roots[0].node, *call.inputs, *(step.node for step in call.steps)]
    if any(node_id not in known for node_id in ids):
        return None  # a hand-edited trace that names nodes it does not have
    root = graph.node(graph.roots[0].node)
    v = graph.roots[0].gradient
    shape = v.shape if v is not None else (root.tensor.shape if root.tensor is not None else None)
    inputs = [graph.node(i) for i in call.inputs] if call.inputs else list(graph.leaves)
    if shape is None or not inputs or any(node.tensor is None for node in inputs):
        return None
    size = _numel(shape)
    if size == 0 or any(node.tensor is not None and _numel(node.tensor.shape) == 0 for node in inputs):
        return None
    if size + sum(_numel(node.tensor.shape) for node in inputs if node.tensor) > max_numel:
        return None
    store = _compose(call, root, size)
    if store is None:
        return None
    row = flatten(v.values) if v is not None and v.values is not None else None
    row = row if row is not None and len(row) == size else None
    entries = []
    for node in inputs:
        tensor = node.tensor
        assert tensor is not None
        columns = _numel(tensor.shape)
        matrix = store.get(node.id, [[0.0] * columns for _ in range(size)])
        if len(matrix[0]) != columns:
            return None
        jacobian = Value((size, columns), tensor.dtype, tuple(tuple(r) for r in matrix))
        vjp = None
        if row is not None:
            flat = [sum(row[i] * matrix[i][j] for i in range(size)) for j in range(columns)]
            vjp = Value(tensor.shape, tensor.dtype, _reshape(flat, tensor.shape))
        entries.append(InputJacobian(node.id, tensor.label, jacobian, vjp))
    return CallJacobian(graph.roots[0].label, shape, v, tuple(entries))
