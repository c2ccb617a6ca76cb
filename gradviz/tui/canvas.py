"""Turn a cell `Layout` into rows of text runs that the graph view styles and draws line by line.

Painting happens once per backward call; stepping only changes the style each run is drawn in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gradviz.model import Graph
from gradviz.render.layout import Box, BoxKind, Layout

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
#: Box-drawing character for each combination of directions a line leaves a cell in.
LINE_CHARS = {
    0: " ",
    UP: "│",
    DOWN: "│",
    UP | DOWN: "│",
    LEFT: "─",
    RIGHT: "─",
    LEFT | RIGHT: "─",
    DOWN | RIGHT: "╭",
    DOWN | LEFT: "╮",
    UP | RIGHT: "╰",
    UP | LEFT: "╯",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    LEFT | RIGHT | DOWN: "┬",
    LEFT | RIGHT | UP: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
ARROWS = {DOWN: "▼", UP: "▲", RIGHT: "▶", LEFT: "◀"}
#: Border characters: corners top-left, top-right, bottom-left, bottom-right, then horizontal, vertical.
BORDERS = {"op": "╭╮╰╯─│", "leaf": "┏┓┗┛━┃", "ghost": "┌┐└┘╌╎", "module": "╔╗╚╝═║"}

RunKind = Literal["node", "overlay", "edge"]


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive cells of one row that belong to the same thing.

    Attributes:
        x: First column.
        text: The characters.
        kind: A node box, an overlay box, or an edge.
        ident: Node id, overlay id, or index into `Layout.routes`.
        row: For boxes, the row within the box (0 is the top border).
    """

    x: int
    text: str
    kind: RunKind
    ident: int
    row: int = 0


def box_rows(box: Box, border: str) -> list[str]:
    """The text rows of one box, borders included.

    Args:
        box: The box.
        border: Six characters, as in `BORDERS`.

    Returns:
        ``box.height`` strings of ``box.width`` characters.
    """
    top_left, top_right, bottom_left, bottom_right, horizontal, vertical = tuple(border)
    inner = box.width - 2
    rows = [top_left + horizontal * inner + top_right]
    rows.extend(vertical + " " + line.ljust(inner - 2)[: inner - 2] + " " + vertical for line in box.lines)
    rows.append(bottom_left + horizontal * inner + bottom_right)
    return rows


def _direction(a: tuple[int, int], b: tuple[int, int]) -> int:
    if b[1] > a[1]:
        return DOWN
    if b[1] < a[1]:
        return UP
    return RIGHT if b[0] > a[0] else LEFT


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _towards(cell: tuple[int, int], box: Box) -> int:
    """The direction from a cell next to a box into the box."""
    if cell[1] < box.y:
        return DOWN
    if cell[1] >= box.y + box.height:
        return UP
    return RIGHT if cell[0] < box.x else LEFT


def _walk(points: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    """Join the points with horizontal and vertical steps (a staircase for slanted stretches)."""
    cells = [points[0]]
    for target in points[1:]:
        x, y = cells[-1]
        while (x, y) != target:
            dx, dy = target[0] - x, target[1] - y
            # Cells are about twice as tall as wide, so a vertical step covers two horizontal ones.
            if dy and (not dx or abs(dy) * 2 >= abs(dx)):
                y += 1 if dy > 0 else -1
            else:
                x += 1 if dx > 0 else -1
            cells.append((x, y))
    return cells


#: Routes are painted lazily, band by band of this many rows, when a row in the band is drawn.
BAND = 32


class Canvas:
    """A painted layout: rows of runs, and which box covers which cell.

    Boxes are painted at once; edges only when a row they cross is first asked for, so a big graph
    opens as fast as a small one.

    Args:
        layout: Where the boxes and routes go.
        graph: The graph (to tell AccumulateGrad nodes, drawn with heavy borders).
        modules: Ids of the nodes that stand for a collapsed module box (double borders).
    """

    def __init__(self, layout: Layout, graph: Graph, modules: frozenset[int] = frozenset()) -> None:
        self.layout = layout
        self.width = layout.width
        self.height = layout.height
        self.boxes = {(box.kind, box.ident): box for box in layout.boxes}
        self._box_runs: dict[int, list[Run]] = {}
        for box in layout.boxes:
            if box.kind == "overlay":
                border = BORDERS["ghost"]
            elif box.ident in modules:
                border = BORDERS["module"]
            elif graph.node(box.ident).is_accumulate_grad:
                border = BORDERS["leaf"]
            else:
                border = BORDERS["op"]
            for offset, text in enumerate(box_rows(box, border)):
                run = Run(box.x, text, box.kind, box.ident, offset)
                self._box_runs.setdefault(box.y + offset, []).append(run)
        for runs in self._box_runs.values():
            runs.sort(key=lambda run: run.x)
        self._bands: dict[int, list[int]] = {}
        for index, route in enumerate(layout.routes):
            rows = [point[1] for point in route.points]
            for band in range(min(rows) // BAND, max(rows) // BAND + 1):
                self._bands.setdefault(band, []).append(index)
        self._painted: set[int] = set()
        self._masks: dict[tuple[int, int], int] = {}
        self._owners: dict[tuple[int, int], int] = {}
        self._arrows: dict[tuple[int, int], str] = {}
        self._edge_rows: dict[int, list[int]] = {}
        self._rows: dict[int, list[Run]] = {}

    def _anchored(
        self, points: tuple[tuple[int, int], ...], source: tuple[BoxKind, int], target: tuple[BoxKind, int]
    ) -> tuple[tuple[int, int], ...]:
        """Make a route start just under its source box and end just above its target box."""
        start, end = self.boxes.get(source), self.boxes.get(target)
        anchored = list(points)
        if end is not None and anchored[-1][1] < end.y:
            anchored.append((_clamp(anchored[-1][0], end.x + 1, end.x + end.width - 2), end.y - 1))
        if start is not None and anchored[0][1] >= start.y + start.height:
            anchored.insert(
                0, (_clamp(anchored[0][0], start.x + 1, start.x + start.width - 2), start.y + start.height)
            )
        return tuple(anchored)

    def _inside_box(self, x: int, y: int) -> bool:
        return any(run.x <= x < run.x + len(run.text) for run in self._box_runs.get(y, ()))

    def _paint_route(self, index: int) -> None:
        self._painted.add(index)
        route = self.layout.routes[index]
        if len(route.points) < 2:
            return
        cells = _walk(self._anchored(route.points, route.source, route.target))
        last: tuple[int, int] | None = None
        for position, cell in enumerate(cells):
            if self._inside_box(*cell):
                continue
            mask = 0
            if position > 0 and cells[position - 1] != cell:
                mask |= _direction(cell, cells[position - 1])
            if position + 1 < len(cells) and cells[position + 1] != cell:
                mask |= _direction(cell, cells[position + 1])
            if cell not in self._masks:
                self._edge_rows.setdefault(cell[1], []).append(cell[0])
            self._masks[cell] = self._masks.get(cell, 0) | mask
            self._owners.setdefault(cell, index)
            self._rows.pop(cell[1], None)
            last = cell
        target = self.boxes.get(route.target)
        if last is not None and target is not None and not route.ghost:
            self._arrows[last] = ARROWS[_towards(last, target)]
            self._owners[last] = index

    def row(self, y: int) -> list[Run]:
        """The runs of row `y`, left to right (single-cell runs for edges).

        Args:
            y: Row index.

        Returns:
            The runs; empty for a blank row.
        """
        for index in self._bands.get(y // BAND, ()):
            if index not in self._painted:
                self._paint_route(index)
        runs = self._rows.get(y)
        if runs is None:
            runs = list(self._box_runs.get(y, ()))
            for x in self._edge_rows.get(y, ()):
                char = self._arrows.get((x, y)) or LINE_CHARS.get(self._masks[(x, y)], "┼")
                runs.append(Run(x, char, "edge", self._owners[(x, y)]))
            runs.sort(key=lambda run: run.x)
            self._rows[y] = runs
        return runs

    def box_at(self, x: int, y: int) -> Box | None:
        """The box covering cell (x, y), if any.

        Args:
            x: Column.
            y: Row.

        Returns:
            The box, or None when the cell is empty or an edge.
        """
        for run in self._box_runs.get(y, ()):
            if run.x <= x < run.x + len(run.text):
                kind: BoxKind = "node" if run.kind == "node" else "overlay"
                return self.boxes[(kind, run.ident)]
        return None
