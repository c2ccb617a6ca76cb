"""Which box of the collapsed view each node of a big graph goes into.

A node goes with its module at the chosen depth (``encoder.layers.3`` at depth 3), or, grouping by
line, with the source line that made it; a dead-end side branch (a bias's AccumulateGrad, a
``TBackward0`` and its weight) goes with the node it hangs off. `gradviz.render.collapse` folds and caps
the groups into boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradviz.model import Graph

#: Side branches of at most this many nodes join the box they hang off.
SIDE_BRANCH = 4


def module_depth(path: str) -> int:
    """Depth of a module path: ``""`` is 0, ``encoder`` 1, ``encoder.layers.3`` 3."""
    return len(path.split(".")) if path else 0


def _keys(graph: Graph, depth: int, children: Sequence[list[int]], by_line: bool) -> list[str | None]:
    """The group key of each node: its module path cut at `depth`, else (`by_line`) its source line.

    By line, a node made where no line was recorded (inside a module's forward, in torch's own code)
    takes the line of the first node that consumed it, so a loop body's nodes share its line.
    """
    modules = [
        ".".join(node.module.split(".")[:depth]) if node.module and depth > 0 else None
        for node in graph.nodes
    ]
    if not by_line:
        return modules
    lines: list[str | None] = [None] * len(graph.nodes)
    for ident in _topological(graph, children):
        node = graph.nodes[ident]
        if node.location is not None:
            lines[ident] = str(node.location)
        if lines[ident] is not None:
            for child in children[ident]:
                if lines[child] is None and graph.nodes[child].location is None:
                    lines[child] = lines[ident]
    return [
        module if module is not None or node.is_accumulate_grad else line
        for node, module, line in zip(graph.nodes, modules, lines, strict=True)
    ]


def _owners(graph: Graph, depth: int, by_line: bool) -> tuple[list[int], list[str | None]]:
    """Group index per node: module groups first, then side branches joined to what they hang off."""
    parents: list[list[int]] = [[] for _ in graph.nodes]
    children: list[list[int]] = [[] for _ in graph.nodes]
    for edge in graph.edges:
        parents[edge.target].append(edge.source)
        children[edge.source].append(edge.target)
    keys = _keys(graph, depth, children, by_line)
    owner = list(range(len(graph.nodes)))
    by_module: dict[str, int] = {}
    for node in graph.nodes:
        key = keys[node.id]
        if key is not None:
            owner[node.id] = by_module.setdefault(key, node.id)
    # A small side branch (one parent, a dead end: a bias's AccumulateGrad, a weight's TBackward0 and
    # AccumulateGrad) joins the box of the node it hangs off, when that node has other children too.
    order = _topological(graph, children)
    size = [0] * len(graph.nodes)
    for ident in reversed(order):
        below = [size[child] for child in children[ident]]
        if len(parents[ident]) == 1 and all(below) and keys[ident] is None:
            size[ident] = 1 + sum(below)
    for ident in order:
        if 0 < size[ident] <= SIDE_BRANCH and owner[ident] == ident:
            parent = parents[ident][0]
            if len(children[parent]) > 1 or owner[parent] != parent:
                owner[ident] = owner[parent]
    return owner, keys


def _topological(graph: Graph, children: Sequence[list[int]]) -> list[int]:
    indegree = [0] * len(graph.nodes)
    for edge in graph.edges:
        indegree[edge.target] += 1
    order = [node.id for node in graph.nodes if indegree[node.id] == 0]
    for node in order:
        for child in children[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                order.append(child)
    seen = set(order)
    order.extend(node.id for node in graph.nodes if node.id not in seen)  # cycles cannot happen; be safe
    return order


def node_groups(graph: Graph, depth: int, by_line: bool) -> tuple[list[list[int]], list[str | None]]:
    """The nodes of each group, in order of their first node, and each group's key (None: no module).

    Args:
        graph: The graph.
        depth: Module depth of the groups.
        by_line: Group nodes of no module by the source line that made them.

    Returns:
        The groups' node ids, and the module path (or source line) each group stands for.
    """
    owner, keys = _owners(graph, depth, by_line)
    index: dict[int, int] = {}
    groups: list[list[int]] = []
    paths: list[str | None] = []
    for node in graph.nodes:
        group = index.setdefault(owner[node.id], len(groups))
        if group == len(groups):
            groups.append([])
            paths.append(keys[owner[node.id]])
        groups[group].append(node.id)
    return groups, paths
