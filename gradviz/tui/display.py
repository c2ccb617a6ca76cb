"""What the graph pane lays out: every node, or the collapsed view with some boxes opened.

The grouping is `gradviz.render.collapse`'s (module boxes, folds, lines); this module only turns a
`Collapsed` view into a small graph the cell layout can place, with each box's nodes listed so the
pane can tell which box the running node is in. An opened box shows its nodes one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from gradviz.model import Edge, Graph, Node, Root, TensorInfo
from gradviz.render.collapse import NODE_BUDGET, Box, Collapsed, choose_depth, collapse, module_depth
from gradviz.render.layout import MAX_LABEL, Layout
from gradviz.render.values import shape_text

__all__ = [
    "NODE_BUDGET",
    "Display",
    "ViewKey",
    "build_display",
    "deepest_depth",
    "default_view",
    "relabel",
    "toggle_box",
]


@dataclass(frozen=True, slots=True)
class ViewKey:
    """Which view of a call is shown.

    Attributes:
        depth: Module depth of the collapsed view; None for every node.
        opened: Ids of the collapsed view's boxes shown node by node.
    """

    depth: int | None
    opened: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Display:
    """A graph to lay out, and how its nodes map to the call's nodes.

    Attributes:
        graph: What is laid out: the call's graph itself, or one node per box and per shown node.
        members: Display node id -> the call's node ids it stands for.
        owner: The call's node id -> display node id.
        boxes: Display node id -> the collapsed box it draws (absent for a node shown by itself).
        labels: Display node id -> text lines drawn inside a box.
        view: The collapsed view, None when every node is shown.
    """

    graph: Graph
    members: dict[int, tuple[int, ...]]
    owner: dict[int, int]
    boxes: dict[int, Box]
    labels: dict[int, tuple[str, ...]]
    view: Collapsed | None

    @property
    def collapsed(self) -> bool:
        """Whether some nodes are drawn as module boxes."""
        return bool(self.boxes)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def box_lines(box: Box) -> tuple[str, str]:
    """The two lines inside a collapsed box: its path (or name) with its repeats, then what it holds.

    Args:
        box: A box of the collapsed view.

    Returns:
        ``("+ rnn.cell", "LSTMCell x999: 5994 nodes")`` (``x999``: calls of the module), clipped.
    """
    title = box.path if box.path else box.type
    repeat = f" x{box.repeat}" if box.repeat > 1 else ""
    count = f"{len(box.nodes)} node{'s' if len(box.nodes) != 1 else ''}"
    calls = f" x{box.calls}" if box.calls > 1 else ""
    second = f"{box.type}{calls}: {count}" if box.path else count
    return _clip(f"+ {title}{repeat}"), _clip(second)


def default_view(graph: Graph) -> ViewKey:
    """Every node for a graph within the drawings' node budget, else the collapsed view at its depth.

    A collapsed view that would leave nodes out (more boxes than the drawings draw) is not used: the
    pane must be able to show any node the steps reach.

    Args:
        graph: The call's graph.

    Returns:
        The view to open on.
    """
    if len(graph.nodes) <= NODE_BUDGET:
        return ViewKey(None)
    depth = choose_depth(graph)
    if collapse(graph, depth).hidden:
        return ViewKey(None)
    return ViewKey(depth)


def build_display(graph: Graph, key: ViewKey) -> Display:
    """The graph to lay out for a view.

    Args:
        graph: The call's graph.
        key: Which view.

    Returns:
        The display; for ``key.depth is None`` the call's graph itself. A box of one node is drawn
        as that node.
    """
    if key.depth is None:
        identity = {node.id: node.id for node in graph.nodes}
        return Display(graph, {node.id: (node.id,) for node in graph.nodes}, identity, {}, {}, None)
    view = collapse(graph, key.depth)
    nodes: list[Node] = []
    members: dict[int, tuple[int, ...]] = {}
    boxes: dict[int, Box] = {}
    labels: dict[int, tuple[str, ...]] = {}
    owner: dict[int, int] = {}
    for box in view.boxes:
        if box.id in key.opened or len(box.nodes) == 1:
            for member in box.nodes:
                ident = len(nodes)
                nodes.append(replace(graph.nodes[member], id=ident))
                members[ident] = (member,)
                owner[member] = ident
            continue
        ident = len(nodes)
        lines = box_lines(box)
        width = max(len(line) for line in lines)
        # A placeholder of the labels' size: the layout measures node_lines(); the labels replace it.
        label = "M" * max(width - len(" " + shape_text(())), 1)
        nodes.append(Node(ident, "M" * width, tensor=TensorInfo(label, (), "", "")))
        members[ident] = box.nodes
        boxes[ident] = box
        labels[ident] = lines
        owner.update((member, ident) for member in box.nodes)
    # Boxes can feed each other both ways (a cell called at every time step); keep the links that
    # follow the order gradients flow in, so that any layout (the layered fallback too) can place them.
    rank: dict[int, int] = {}
    for position, node in enumerate(_topological(graph)):
        rank.setdefault(owner[node], position)
    edges = dict.fromkeys(
        (owner[edge.source], owner[edge.target])
        for edge in graph.edges
        if rank[owner[edge.source]] < rank[owner[edge.target]]
    )
    roots = tuple(
        Root(owner[root.node], root.label, root.gradient) for root in graph.roots if root.node in owner
    )
    overlays = tuple(
        replace(overlay, attached_to=owner[overlay.attached_to])
        for overlay in graph.overlays
        if overlay.attached_to is not None
        and overlay.attached_to in owner
        and owner[overlay.attached_to] not in boxes
    )
    shown = Graph(tuple(nodes), tuple(Edge(a, b, (0,)) for a, b in edges), roots, overlays, graph.modules)
    return Display(shown, members, owner, boxes, labels, view)


def _topological(graph: Graph) -> list[int]:
    """The nodes in an order where each comes before the nodes it sends vJ to."""
    children: dict[int, list[int]] = {}
    indegree = dict.fromkeys((node.id for node in graph.nodes), 0)
    for edge in graph.edges:
        children.setdefault(edge.source, []).append(edge.target)
        indegree[edge.target] += 1
    order = [node for node, count in indegree.items() if count == 0]
    for node in order:
        for child in children.get(node, ()):
            indegree[child] -= 1
            if indegree[child] == 0:
                order.append(child)
    return order + [node for node, count in indegree.items() if count > 0]


def relabel(layout: Layout, labels: dict[int, tuple[str, ...]]) -> Layout:
    """Put the boxes' own lines into a layout made with placeholder labels of the same size.

    Args:
        layout: The cell layout of a display graph.
        labels: Display node id -> lines (see `Display.labels`).

    Returns:
        The layout with those boxes' lines replaced.
    """
    if not labels:
        return layout
    boxes = tuple(
        replace(box, lines=labels[box.ident]) if box.kind == "node" and box.ident in labels else box
        for box in layout.boxes
    )
    return replace(layout, boxes=boxes)


def first_box(display: Display, nodes: Iterable[int]) -> int | None:
    """The display node of the first of some call nodes that the display shows.

    Args:
        display: The display.
        nodes: Call node ids, in the order wanted.

    Returns:
        A display node id, or None.
    """
    for node in nodes:
        if node in display.owner:
            return display.owner[node]
    return None


def toggle_box(display: Display, key: ViewKey, node: int) -> tuple[ViewKey | None, str]:
    """Open the collapsed box holding a node (show its nodes one by one), or close it when open.

    Args:
        display: What is drawn now.
        key: The view it was built for.
        node: Id of a node of the call.

    Returns:
        The new view (None when nothing changes) and one line saying what happened.
    """
    if display.view is None or key.depth is None:
        return None, "every node is drawn: f collapses the graph into module boxes"
    for box in display.view.boxes:
        if node not in box.nodes:
            continue
        title = box_lines(box)[0][2:]
        if box.id in key.opened:
            return ViewKey(key.depth, key.opened - {box.id}), f"collapsed {title}"
        if len(box.nodes) == 1:
            return None, f"{title} is a single node"
        if len(box.nodes) > NODE_BUDGET:
            return None, f"{title} holds {len(box.nodes)} nodes: + for smaller modules, f for every node"
        return ViewKey(key.depth, key.opened | {box.id}), f"expanded {title}: {len(box.nodes)} nodes"
    return None, "this node is not drawn in the collapsed view"


def deepest_depth(graph: Graph) -> int:
    """The depth of the deepest module path any node has (0 without module information)."""
    return max((module_depth(node.module) for node in graph.nodes if node.module), default=0)
