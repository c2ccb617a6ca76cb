"""Module clusters for the full drawing: the nodes each ``nn.Module`` call produced, boxed and labelled."""

from __future__ import annotations

import graphviz

from gradviz.model import Graph
from gradviz.render.style import FONT, MUTED

__all__ = ["add_clusters", "module_label"]

_CLUSTER = {
    "style": "rounded,dashed",
    "color": "#9ca3af",
    "fontcolor": MUTED,
    "fontsize": "10",
    "labeljust": "l",
}


def module_label(path: str, graph: Graph) -> str:
    """``path (Type)``, with ``x N calls`` when the module ran more than once, as `Graph.modules` tells."""
    for info in graph.modules:
        if info.path == path:
            calls = f", x{info.calls} calls" if info.calls > 1 else ""
            return f"{path} ({info.type}{calls})"
    return path


def add_clusters(dot: graphviz.Digraph, graph: Graph) -> None:
    """Put each node with a module into nested clusters, one per module path prefix.

    Nodes must already be in `dot` as ``n<id>``: a cluster only names them, so their looks stay.

    Args:
        dot: The drawing.
        graph: The graph whose `Node.module` paths give the clusters.
    """
    direct: dict[str, list[int]] = {}
    for node in graph.nodes:
        if node.module:
            direct.setdefault(node.module, []).append(node.id)
    inner: dict[str, list[str]] = {}
    top: list[str] = []
    known: set[str] = set()
    for path in direct:
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in known:
                continue
            known.add(prefix)
            parent = ".".join(parts[: depth - 1])
            (inner.setdefault(parent, []) if depth > 1 else top).append(prefix)
    counter = iter(range(len(known)))

    def emit(into: graphviz.Digraph, path: str) -> None:
        with into.subgraph(name=f"cluster_m{next(counter)}") as sub:
            sub.attr(label=module_label(path, graph), fontname=FONT, **_CLUSTER)
            for node in direct.get(path, ()):
                sub.node(f"n{node}")
            for child in inner.get(path, ()):
                emit(sub, child)

    for path in top:
        emit(dot, path)
