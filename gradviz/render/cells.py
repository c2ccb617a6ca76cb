"""What a terminal layout is made of: boxes with their text, and routes between them, in character cells.

Coordinates: x grows to the right, y grows downwards, both in terminal cells, origin top-left.
`gradviz.render.layout` places the boxes (with the layout engine, or in layered rows without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gradviz.model import Graph, Node, Overlay
from gradviz.render.devices import move_of, placement
from gradviz.render.values import shape_text

#: Longest text line inside a box.
MAX_LABEL = 28


BoxKind = Literal["node", "overlay"]


@dataclass(frozen=True, slots=True)
class Box:
    """A node or overlay drawn as a rectangle.

    Attributes:
        kind: ``"node"`` for a graph node, ``"overlay"`` for a no_grad/detach/... ghost.
        ident: The node id or overlay id.
        x: Left column.
        y: Top row.
        width: Width in cells, borders included.
        height: Height in cells, borders included.
        lines: The text inside the box, one entry per line.
    """

    kind: BoxKind
    ident: int
    x: int
    y: int
    width: int
    height: int
    lines: tuple[str, ...]

    def contains(self, x: int, y: int) -> bool:
        """Whether the cell (x, y) lies inside the box, borders included."""
        return self.x <= x < self.x + self.width and self.y <= y < self.y + self.height


@dataclass(frozen=True, slots=True)
class Route:
    """The path of one edge, as cell points to be joined by straight runs.

    Attributes:
        source: Key of the box it leaves, e.g. ``("node", 0)``.
        target: Key of the box it enters.
        points: Cells along the path, first near the source, last near the target.
        ghost: Whether it links an overlay (drawn dimmed, no arrowhead).
    """

    source: tuple[BoxKind, int]
    target: tuple[BoxKind, int]
    points: tuple[tuple[int, int], ...]
    ghost: bool = False


@dataclass(frozen=True, slots=True)
class Layout:
    """Boxes and routes of a whole graph.

    Attributes:
        width: Columns needed to show everything.
        height: Rows needed to show everything.
        boxes: One box per node and per overlay.
        routes: One route per edge (and per overlay link).
        engine: ``"graphviz"`` when a layout engine placed it, ``"layered"`` for the fallback.
    """

    width: int
    height: int
    boxes: tuple[Box, ...]
    routes: tuple[Route, ...]
    engine: str


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def node_lines(node: Node) -> tuple[str, ...]:
    """The text drawn inside a node's box: its name, then the tensor's name and shape.

    Args:
        node: A graph node.

    Returns:
        One or two lines, each at most `MAX_LABEL` characters.
    """
    lines = [_clip(node.name)]
    tensor = node.tensor
    if tensor is not None:
        shape = shape_text(tensor.shape)
        name = f"{tensor.label} {shape}" if tensor.label else shape
        lines.append(_clip(name))
    return tuple(lines)


def box_lines(graph: Graph, node: Node) -> tuple[str, ...]:
    """The box's device line in a graph that is not all on the CPU, or its move (``cpu -> cuda:0``)."""
    move = move_of(graph, node)
    if move is not None:
        return (_clip(move.forward),)
    where = placement(graph, node.tensor)
    return (_clip(where),) if where else ()


def overlay_lines(overlay: Overlay) -> tuple[str, ...]:
    """The text drawn inside an overlay's ghost box.

    Args:
        overlay: A no_grad / detach / in-place / .data overlay.

    Returns:
        Its kind with the tensor's name, then its one-line explanation.
    """
    head = overlay.kind if overlay.label is None else f"{overlay.kind}: {overlay.label}"
    return (_clip(head), _clip(overlay.text))


def box_size(lines: tuple[str, ...]) -> tuple[int, int]:
    """A box's (width, height) in cells for these lines: a border and a space around the text."""
    return max(len(line) for line in lines) + 4, len(lines) + 2


def box_items(graph: Graph) -> list[tuple[BoxKind, int, tuple[str, ...]]]:
    """Every box to draw, as (kind, id, text lines): the nodes, then the overlays."""
    items: list[tuple[BoxKind, int, tuple[str, ...]]] = [
        ("node", node.id, node_lines(node) + box_lines(graph, node)) for node in graph.nodes
    ]
    items.extend(("overlay", overlay.id, overlay_lines(overlay)) for overlay in graph.overlays)
    return items


def box_links(graph: Graph) -> list[tuple[tuple[BoxKind, int], tuple[BoxKind, int], bool]]:
    """Every route to draw, as (source box, target box, whether it leads to an overlay's ghost)."""
    count = len(graph.nodes)
    links: list[tuple[tuple[BoxKind, int], tuple[BoxKind, int], bool]] = [
        (("node", edge.source), ("node", edge.target), False)
        for edge in graph.edges
        if 0 <= edge.source < count and 0 <= edge.target < count
    ]
    links.extend(
        (("node", overlay.attached_to), ("overlay", overlay.id), True)
        for overlay in graph.overlays
        if overlay.attached_to is not None and 0 <= overlay.attached_to < count
    )
    return links
