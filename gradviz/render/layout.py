"""Lay an autograd graph out in character cells, for drawing in a terminal.

The layout engine (Graphviz or graphviz-pure) places fixed-size boxes whose sizes are given in
cells, and its ``-Tplain`` answer is read back into `Box` rectangles and `Route` polylines measured in
cells. When no engine runs, `layered_layout` stacks the nodes in topological generations instead.

Coordinates: x grows to the right, y grows downwards, both in terminal cells, origin top-left.
Edges point in the backward direction (a node to its ``next_functions``), so the roots are at the top
and the leaves at the bottom, the way the gradient flows.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable

import networkx as nx

from gradviz.errors import GradvizError
from gradviz.model import Graph
from gradviz.render.cells import (
    MAX_LABEL,
    Box,
    BoxKind,
    Layout,
    Route,
    box_items,
    box_links,
    box_size,
    node_lines,
)

__all__ = [
    "MAX_LABEL",
    "Box",
    "BoxKind",
    "Layout",
    "Route",
    "layered_layout",
    "layout_graph",
    "node_lines",
    "parse_plain",
    "to_layout_dot",
]

#: Inches per terminal column and per row in the DOT handed to the engine (cells are about 1:2).
CELL_WIDTH = 0.1
CELL_HEIGHT = 0.2
#: Seconds the layout engine gets before the layered fallback is used instead.
ENGINE_TIMEOUT = 30.0


def _dot_name(kind: BoxKind, ident: int) -> str:
    return f"{kind[0]}{ident}"


def to_layout_dot(graph: Graph) -> str:
    """DOT for the layout engine: fixed-size boxes measured in cells, no labels.

    Args:
        graph: The graph to lay out.

    Returns:
        DOT source whose node sizes are the boxes' cell sizes times `CELL_WIDTH` / `CELL_HEIGHT`.
    """
    out = [
        "digraph gradviz_layout {",
        "rankdir=TB; nodesep=0.3; ranksep=0.6;",
        'node [shape=box fixedsize=true label=""];',
    ]
    for kind, ident, lines in box_items(graph):
        width, height = box_size(lines)
        size = f"width={width * CELL_WIDTH:.2f} height={height * CELL_HEIGHT:.2f}"
        out.append(f"{_dot_name(kind, ident)} [{size}];")
    for (skind, sid), (tkind, tid), ghost in box_links(graph):
        style = " [style=dashed arrowhead=none]" if ghost else ""
        out.append(f"{_dot_name(skind, sid)} -> {_dot_name(tkind, tid)}{style};")
    out.append("}")
    return "\n".join(out) + "\n"


def _bezier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sample the cubic B-spline control points of a plain-format edge."""
    samples = [points[0]]
    for i in range(0, len(points) - 3, 3):
        p0, p1, p2, p3 = points[i : i + 4]
        span = abs(p3[0] - p0[0]) + abs(p3[1] - p0[1])
        count = max(2, int(span * 2) + 1)
        for j in range(1, count + 1):
            t = j / count
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            samples.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return samples


def _parse_key(name: str) -> tuple[BoxKind, int]:
    kind: BoxKind = "node" if name[0] == "n" else "overlay"
    return kind, int(name[1:])


def parse_plain(text: str, graph: Graph) -> Layout:
    """Read a layout engine's ``-Tplain`` output for `to_layout_dot(graph)` into cells.

    Args:
        text: The engine's plain output (``graph``, ``node``, ``edge`` and ``stop`` lines, in inches).
        graph: The graph that DOT was made from (for the box texts).

    Returns:
        The layout, in cells.

    Raises:
        GradvizError: The output is not plain format or names nodes the graph lacks.
    """
    lines_by_key = {(kind, ident): lines for kind, ident, lines in box_items(graph)}
    height_in = 0.0
    boxes: list[Box] = []
    routes: list[Route] = []
    try:
        for raw in text.splitlines():
            fields = shlex.split(raw) if '"' in raw else raw.split()
            if not fields:
                continue
            if fields[0] == "graph":
                height_in = float(fields[3])
            elif fields[0] == "node":
                key = _parse_key(fields[1])
                lines = lines_by_key[key]
                width, height = box_size(lines)
                col = round(float(fields[2]) / CELL_WIDTH) - width // 2
                row = round((height_in - float(fields[3])) / CELL_HEIGHT) - height // 2
                boxes.append(Box(key[0], key[1], max(col, 0), max(row, 0), width, height, lines))
            elif fields[0] == "edge":
                count = int(fields[3])
                coords = [float(value) for value in fields[4 : 4 + 2 * count]]
                controls = [(coords[i], coords[i + 1]) for i in range(0, len(coords), 2)]
                cells = [
                    (round(x / CELL_WIDTH), round((height_in - y) / CELL_HEIGHT))
                    for x, y in _bezier(controls)
                ]
                source, target = _parse_key(fields[1]), _parse_key(fields[2])
                routes.append(Route(source, target, tuple(cells), ghost=target[0] == "overlay"))
    except (IndexError, ValueError, KeyError) as exc:
        raise GradvizError(f"could not read the layout engine's plain output: {exc}") from exc
    if len(boxes) != len(lines_by_key):
        raise GradvizError("the layout engine's plain output does not list every node")
    width = max((box.x + box.width for box in boxes), default=0) + 1
    height = max((box.y + box.height for box in boxes), default=0) + 1
    return Layout(width, height, tuple(boxes), tuple(routes), "graphviz")


def layered_layout(graph: Graph) -> Layout:
    """A layout without any engine: one row of boxes per topological generation.

    Args:
        graph: The graph to lay out.

    Returns:
        Boxes in rows (roots on top), routes as down-across-down polylines.
    """
    digraph = nx.DiGraph()
    items = box_items(graph)
    sizes = {(kind, ident): box_size(lines) for kind, ident, lines in items}
    texts = {(kind, ident): lines for kind, ident, lines in items}
    digraph.add_nodes_from(sizes)
    links = box_links(graph)
    digraph.add_edges_from((source, target) for source, target, _ in links)
    order: dict[tuple[BoxKind, int], float] = {}
    placed: dict[tuple[BoxKind, int], Box] = {}
    top = 0
    rows: list[list[Box]] = []
    for generation in nx.topological_generations(digraph):
        for key in generation:
            parents = [order[parent] for parent in digraph.predecessors(key) if parent in order]
            order[key] = sum(parents) / len(parents) if parents else float(key[1])
        row_keys = sorted(generation, key=lambda key: (order[key], key))
        x = 1
        row: list[Box] = []
        for position, key in enumerate(row_keys):
            order[key] = float(position)
            width, height = sizes[key]
            row.append(Box(key[0], key[1], x, top, width, height, texts[key]))
            x += width + 3
        rows.append(row)
        top += max(box.height for box in row) + 3
    width = max((row[-1].x + row[-1].width for row in rows if row), default=0) + 1
    for row in rows:
        shift = (width - (row[-1].x + row[-1].width)) // 2 if row else 0
        for box in row:
            placed[(box.kind, box.ident)] = Box(
                box.kind, box.ident, box.x + shift, box.y, box.width, box.height, box.lines
            )
    routes = []
    for source, target, ghost in links:
        a, b = placed[source], placed[target]
        start = (a.x + a.width // 2, a.y + a.height)
        end = (b.x + b.width // 2, b.y - 1)
        middle = b.y - 2
        routes.append(Route(source, target, (start, (start[0], middle), (end[0], middle), end), ghost))
    return Layout(width, max(top - 2, 0), tuple(placed.values()), tuple(routes), "layered")


LayoutRunner = Callable[[str, str], bytes]


def _default_runner(timeout: float) -> LayoutRunner | None:
    try:
        from gradviz.render.svg import run_layout
    except ImportError:
        return None
    return functools.partial(run_layout, timeout=timeout)


def layout_graph(
    graph: Graph, *, runner: LayoutRunner | None = None, engine: bool = True, timeout: float = ENGINE_TIMEOUT
) -> Layout:
    """Lay a graph out in cells, with the layout engine when one runs, else `layered_layout`.

    Args:
        graph: The graph to lay out.
        runner: ``run_layout(dot_source, fmt) -> bytes``; defaults to `gradviz.render.svg.run_layout`.
        engine: False to skip the engine and use the fallback directly.
        timeout: Seconds the default runner gives the engine (long edges can make it very slow).

    Returns:
        The layout; its ``engine`` attribute says which way it was made.
    """
    if engine and graph.nodes:
        run = runner if runner is not None else _default_runner(timeout)
        if run is not None:
            try:
                plain = run(to_layout_dot(graph), "plain").decode("utf-8", "replace")
                return parse_plain(plain, graph)
            except GradvizError:
                pass
    return layered_layout(graph)
