"""Devices and dtypes in the drawings: where each tensor lives, and the copies that move it.

A graph on the CPU in one dtype is drawn as it always was. When a call involves more than one device, or
a device that is not the CPU, every node and leaf says where its tensor lives; when it involves more than
one dtype, each says its dtype. A ``ToCopyBackward0`` node whose input lives elsewhere (``.to(device)``,
``.cuda()``, ``.double()``) is a boundary: forward copied the tensor across it, and backward sends the
gradient back across it, to the device and dtype of the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradviz.model import Graph, Node, TensorInfo

__all__ = [
    "TO_COPY",
    "Move",
    "call_lines",
    "copied_leaf_name",
    "copy_text",
    "move_of",
    "node_notes",
    "placement",
    "shows_devices",
    "shows_dtypes",
]

#: The grad_fn of ``Tensor.to`` and every method built on it (``cuda``, ``cpu``, ``double``, ``type``).
TO_COPY = "ToCopyBackward0"


@dataclass(frozen=True, slots=True)
class Move:
    """A copy to another device or dtype: what forward crossed, and backward crosses back.

    Attributes:
        before: Where the input lived (``"cpu"``, ``"float32"`` or ``"cpu float32"``).
        after: Where the copy lives.
        source: Id of the node the gradient is sent back to (the input's node).
    """

    before: str
    after: str
    source: int

    @property
    def forward(self) -> str:
        """``"cpu -> cuda:0"``: the copy forward made."""
        return f"{self.before} -> {self.after}"

    @property
    def back(self) -> str:
        """``"cuda:0 -> cpu"``: the way the gradient goes in backward."""
        return f"{self.after} -> {self.before}"


@dataclass(frozen=True, slots=True)
class _Facts:
    devices: tuple[str, ...]
    dtypes: int
    behind: dict[int, str]
    copied_from: dict[int, int]


#: The last graph asked about and its facts: every node of a drawing asks, and a walk per node is O(n^2).
_last: list[tuple[Graph, _Facts]] = []


def _facts(graph: Graph) -> _Facts:
    if _last and _last[0][0] is graph:
        return _last[0][1]
    tensors = [node.tensor for node in graph.nodes if node.tensor is not None]
    behind: dict[int, str] = {}
    copied_from: dict[int, int] = {}  # each ToCopyBackward0 node -> the node of the tensor it copied
    copies = {node.id for node in graph.nodes if node.name == TO_COPY}
    for edge in graph.edges if copies else ():
        if edge.source not in copies:
            continue
        copied_from.setdefault(edge.source, edge.target)
        target, copy = graph.nodes[edge.target], graph.nodes[edge.source].tensor
        unnamed = target.tensor is None or not target.tensor.label
        if target.is_accumulate_grad and unnamed and copy is not None and copy.label:
            behind.setdefault(edge.target, f"leaf behind {copy.label}")
    # Boxes that stand for many nodes (the collapsed views) carry a tensor with neither: not a device.
    devices = tuple(sorted({t.device for t in tensors if t.device}))
    facts = _Facts(devices, len({t.dtype for t in tensors if t.dtype}), behind, copied_from)
    _last[:] = [(graph, facts)]
    return facts


def shows_devices(graph: Graph) -> bool:
    """Whether the drawing says each tensor's device: more than one device, or one that is not the CPU.

    Args:
        graph: A captured graph.

    Returns:
        False for a graph that lives on the CPU alone (drawn as always).
    """
    devices = _facts(graph).devices
    return len(devices) > 1 or any(device != "cpu" for device in devices)


def shows_dtypes(graph: Graph) -> bool:
    """Whether the drawing says each tensor's dtype on op nodes: the graph holds more than one dtype."""
    return _facts(graph).dtypes > 1


def placement(graph: Graph, tensor: TensorInfo | None, *, dtype: bool = True) -> str:
    """Where a tensor lives, as much as the drawing shows: ``"float64 on cuda:0"``, or ``""``.

    Args:
        graph: Its graph (decides what is worth saying).
        tensor: The tensor.
        dtype: Whether to name the dtype (off where the line already says it, as a leaf's does).

    Returns:
        The words, empty for a CPU graph in one dtype.
    """
    if tensor is None:
        return ""
    words = []
    if dtype and tensor.dtype and shows_dtypes(graph):
        words.append(tensor.dtype)
    if tensor.device and shows_devices(graph):
        words.append(f"on {tensor.device}")
    return " ".join(words)


def move_of(graph: Graph, node: Node) -> Move | None:
    """The device or dtype move a ``ToCopyBackward0`` node stands for, when its input lived elsewhere.

    Args:
        graph: The node's graph.
        node: Any node.

    Returns:
        The move; None for other nodes, a copy that changed nothing, or an input the trace does not know.
    """
    if node.name != TO_COPY or node.tensor is None:
        return None
    copied = _facts(graph).copied_from.get(node.id)
    source = graph.nodes[copied] if copied is not None else None
    if source is None or source.tensor is None:
        return None
    before, after = source.tensor, node.tensor
    parts = []
    if before.device != after.device:
        parts.append(("device", before.device, after.device))
    if before.dtype != after.dtype:
        parts.append(("dtype", before.dtype, after.dtype))
    if not parts:
        return None
    return Move(" ".join(part[1] for part in parts), " ".join(part[2] for part in parts), source.id)


def copied_leaf_name(graph: Graph, node: Node) -> str | None:
    """A name for an unnamed leaf that a named copy was made from: ``"leaf behind w"``.

    ``w = torch.randn(3, requires_grad=True).to(device)`` names the copy; the leaf that gets the gradient
    has no name of its own.

    Args:
        graph: The node's graph.
        node: A leaf's AccumulateGrad node.

    Returns:
        The name, or None when the leaf has a name or no named copy of it is drawn.
    """
    return _facts(graph).behind.get(node.id)


def copy_text(graph: Graph, node: Node) -> str | None:
    """On a named copy of an unnamed leaf: ``"w is this copy, not a leaf: w.grad stays None"``.

    Args:
        graph: The node's graph.
        node: Any node.

    Returns:
        The words, or None when the node is no such copy.
    """
    if node.name != TO_COPY or node.tensor is None or not node.tensor.label:
        return None
    facts = _facts(graph)
    if facts.copied_from.get(node.id) not in facts.behind:
        return None
    label = node.tensor.label
    return f"{label} is this copy, not a leaf: {label}.grad stays None"


def call_lines(graph: Graph) -> list[str]:
    """The summary's lines on devices and moves for one call; none for a CPU graph in one dtype.

    Args:
        graph: The call's graph.

    Returns:
        ``devices: cpu, cuda:0`` and one line per move: where forward copied the tensor, where backward
        sent the gradient back (``ToCopyBackward0 (w) at t.py:3: copy cpu -> cuda:0, grad back
        cuda:0 -> cpu``).
    """
    lines = []
    if shows_devices(graph):
        lines.append(f"devices: {', '.join(_facts(graph).devices)}")
    counts: dict[tuple[str, str], int] = {}
    for node in graph.nodes:
        move = move_of(graph, node)
        if move is None:
            continue
        assert node.tensor is not None
        name = f" ({node.tensor.label})" if node.tensor.label else ""
        where = f" at {node.location}" if node.location is not None else _made_inside(graph, move)
        said = (f"{TO_COPY}{name}{where}", f": copy {move.forward}, grad back {move.back}")
        counts[said] = counts.get(said, 0) + 1
    # Autocast casts each op's inputs below Python, so a mixed-precision call repeats one move many times.
    lines.extend(f"{copy}{f' x{n}' if n > 1 else ''}{move}" for (copy, move), n in counts.items())
    return lines


def _made_inside(graph: Graph, move: Move) -> str:
    """Where a half-precision cast no line of the script made came from: inside an op, as autocast's."""
    half = {move.before, move.after} & {"float16", "bfloat16"}
    lines_known = any(node.location is not None for node in graph.nodes)
    return " inside torch's ops (autocast)" if half and lines_known else ""


def node_notes(graph: Graph, node: Node) -> list[str]:
    """What the step tables and panes say about a node's device and dtype; none for a plain CPU graph.

    Args:
        graph: The node's graph.
        node: A node.

    Returns:
        Where its tensor lives (``"float64 on cuda:0"``), the move it stands for (``"copy cpu -> cuda:0,
        grad back cuda:0 -> cpu"``), or which copy an unnamed leaf is behind.
    """
    notes = []
    where = placement(graph, node.tensor)
    if where:
        notes.append(f"tensor: {where}")
    move = move_of(graph, node)
    if move is not None:
        notes.append(f"copy {move.forward}, grad back {move.back}")
    copy = copy_text(graph, node)
    if copy is not None:
        notes.append(copy)
    return notes
