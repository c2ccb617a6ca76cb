"""The collapsed view of a big graph: modules as boxes, repeated structure folded, the rest capped.

Each node goes into the box of its module at the chosen depth (``encoder.layers.3`` at depth 3);
nodes of no module stay boxes of their own. Dead-end side branches (a bias's AccumulateGrad, a
``TBackward0`` and its weight) go into the box of the node they hang off. Along a straight run of
boxes, a pattern that repeats (12 identical layers, 999 steps of an RNN cell, 1000 Linear+ReLU
pairs) folds into one box that says ``x12`` (`gradviz.render.fold`). Without modules, when folding
leaves too many boxes, nodes are grouped by the source line that made them. When even that leaves
more than `MAX_BOXES`, the boxes nearest the roots are drawn and one marker says how many nodes were
not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gradviz.model import Graph, Value
from gradviz.render.fold import fold_run, straight_runs
from gradviz.render.grouping import module_depth, node_groups

__all__ = ["MAX_BOXES", "NODE_BUDGET", "Box", "Collapsed", "Link", "choose_depth", "collapse", "module_depth"]

#: Graphs with more nodes than this are drawn collapsed unless the full drawing is asked for.
NODE_BUDGET = 300
#: The automatic depth is the deepest whose collapsed view has at most this many boxes.
TARGET_BOXES = 60
#: At most this many boxes are drawn; the rest are counted in one marker.
MAX_BOXES = 150


@dataclass(frozen=True, slots=True)
class Box:
    """One box of the collapsed view.

    Attributes:
        id: Sequential id.
        nodes: Ids of the graph nodes it stands for.
        path: Module path (the first and last, joined by `` .. ``, for a fold), or None for a node
            of no module.
        type: Module class name (``"A, B"`` for a fold of a pattern), or the node's name.
        repeat: How many times its pattern repeats (1 when nothing was folded).
        calls: Forward calls of its module that made nodes of the graph (from `Graph.modules`).
    """

    id: int
    nodes: tuple[int, ...]
    path: str | None
    type: str
    repeat: int = 1
    calls: int = 1


@dataclass(frozen=True, slots=True)
class Link:
    """Gradient flowing from one box to another: the graph edges that cross between them.

    Attributes:
        source: Box the edges leave (backward direction: it sends vJ).
        target: Box they enter.
        edges: The ``(source node, target node)`` pairs that cross.
    """

    source: int
    target: int
    edges: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Collapsed:
    """The collapsed view of a graph.

    Attributes:
        depth: Module depth the boxes stand for (0 when the graph has no module information).
        boxes: The boxes drawn.
        links: Links among the drawn boxes.
        hidden: Nodes not drawn because the view was capped.
        by_line: The boxes group nodes by the source line that made them (no module information).
    """

    depth: int
    boxes: tuple[Box, ...]
    links: tuple[Link, ...]
    hidden: int = 0
    by_line: bool = False


def _signature(graph: Graph, members: Sequence[int], path: str | None, types: Mapping[str, str]) -> str:
    names = Counter(graph.nodes[member].name for member in members)
    inside = ",".join(f"{name}:{count}" for name, count in sorted(names.items()))
    return f"{types.get(path, '?') if path is not None else ''}|{inside}"


def collapse(graph: Graph, depth: int) -> Collapsed:
    """Group a graph's nodes into boxes at a module depth, fold repeats, and cap what is drawn.

    When folding alone leaves more than `TARGET_BOXES` boxes, nodes of no module are grouped by the
    source line that made them instead (a loop body's line: 4,500 nodes, one box).

    Args:
        graph: The graph.
        depth: Module depth of the boxes (1: ``encoder``; 3: ``encoder.layers.3``); 0 or nodes of
            no module give one box per node (with its dead-end side branches).

    Returns:
        The boxes and the links among them.
    """
    view = _collapse(graph, depth, by_line=False)
    if len(view.boxes) > TARGET_BOXES and any(node.location for node in graph.nodes):
        by_line = _collapse(graph, depth, by_line=True)
        if len(by_line.boxes) < len(view.boxes):
            return by_line
    return view


def _collapse(graph: Graph, depth: int, *, by_line: bool) -> Collapsed:
    groups, paths = node_groups(graph, depth, by_line)
    types = {info.path: info.type for info in graph.modules}
    if by_line:
        types.update(
            {str(node.location): node.location.code or "line" for node in graph.nodes if node.location}
        )
    calls = {info.path: info.calls for info in graph.modules}
    group_of = [0] * len(graph.nodes)
    for number, members in enumerate(groups):
        for member in members:
            group_of[member] = number
    succ: dict[int, set[int]] = {}
    pred: dict[int, set[int]] = {}
    for edge in graph.edges:
        a, b = group_of[edge.source], group_of[edge.target]
        if a != b:
            succ.setdefault(a, set()).add(b)
            pred.setdefault(b, set()).add(a)
    keys = [_signature(graph, members, paths[number], types) for number, members in enumerate(groups)]
    box_of = [0] * len(groups)
    boxes: list[Box] = []
    for run in straight_runs(list(range(len(groups))), succ, pred):
        for start, period, repeats in fold_run([keys[group] for group in run]):
            members_of = run[start : start + period * repeats]
            for group in members_of:
                box_of[group] = len(boxes)
            boxes.append(_box(graph, len(boxes), members_of, groups, paths, types, calls, period, repeats))
    return _cap(graph, boxes, box_of, group_of, depth, by_line)


def _box(
    graph: Graph,
    ident: int,
    members_of: Sequence[int],
    groups: Sequence[list[int]],
    paths: Sequence[str | None],
    types: Mapping[str, str],
    calls: Mapping[str, int],
    period: int,
    repeats: int,
) -> Box:
    nodes = tuple(sorted(node for group in members_of for node in groups[group]))
    pattern = members_of[:period]
    named = [paths[group] for group in members_of if paths[group] is not None]
    path = None if not named else named[0] if len(named) == 1 else f"{named[0]} .. {named[-1]}"
    kinds = []
    for group in pattern:
        group_path = paths[group]
        kind = types.get(group_path, "module") if group_path is not None else _head(graph, groups[group])
        kinds.append(kind)
    first = paths[members_of[0]]
    return Box(ident, nodes, path, ", ".join(kinds), repeats, calls.get(first, 1) if first else 1)


def _head(graph: Graph, members: Sequence[int]) -> str:
    return graph.nodes[min(members)].name


def _cap(
    graph: Graph, boxes: list[Box], box_of: Sequence[int], group_of: Sequence[int], depth: int, by_line: bool
) -> Collapsed:
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for edge in graph.edges:
        a, b = box_of[group_of[edge.source]], box_of[group_of[edge.target]]
        if a != b:
            pairs.setdefault((a, b), []).append((edge.source, edge.target))
    keep = set(range(len(boxes)))
    hidden = 0
    if len(boxes) > MAX_BOXES:
        keep = _nearest_roots(graph, boxes, box_of, group_of, pairs)
        hidden = sum(len(box.nodes) for box in boxes if box.id not in keep)
    links = tuple(
        Link(a, b, tuple(edges)) for (a, b), edges in sorted(pairs.items()) if a in keep and b in keep
    )
    drawn = tuple(box for box in boxes if box.id in keep)
    return Collapsed(depth, drawn, links, hidden, by_line=by_line)


def _nearest_roots(
    graph: Graph,
    boxes: Sequence[Box],
    box_of: Sequence[int],
    group_of: Sequence[int],
    pairs: Mapping[tuple[int, int], list[tuple[int, int]]],
) -> set[int]:
    succ: dict[int, list[int]] = {}
    for a, b in pairs:
        succ.setdefault(a, []).append(b)
    roots = [box_of[group_of[root.node]] for root in graph.roots if 0 <= root.node < len(graph.nodes)]
    order = list(dict.fromkeys(roots or [0]))
    seen = set(order)
    for box in order:
        if len(order) >= MAX_BOXES:
            break
        for after in sorted(succ.get(box, ())):
            if after not in seen:
                seen.add(after)
                order.append(after)
    return set(order[:MAX_BOXES])


def choose_depth(graph: Graph) -> int:
    """The deepest module depth whose collapsed view has at most `TARGET_BOXES` boxes (at least 1).

    Args:
        graph: The graph.

    Returns:
        The depth; 0 when no node has a module.
    """
    deepest = max((module_depth(node.module) for node in graph.nodes if node.module), default=0)
    chosen = min(deepest, 1)
    for depth in range(2, deepest + 1):
        if len(collapse(graph, depth).boxes) > TARGET_BOXES:
            break
        chosen = depth
    return chosen


def flow_norm(values: Sequence[Value | None]) -> float | None:
    """The 2-norm of several gradients taken together (None when none has a norm)."""
    norms = [value.norm for value in values if value is not None and value.norm is not None]
    if not norms:
        return None
    return math.sqrt(sum(norm * norm for norm in norms))
