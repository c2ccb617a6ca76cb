"""Keep wide fan-outs readable: a node's many children hang in rows off a trunk, not in one long rank.

A node with more than `ROW` children (a ``torch.stack`` of 200 tensors, a sum of many losses) would
put them all side by side. Instead the first `ROW` hang off the node itself, and each further row
hangs off a small trunk point below the previous one: parent -> point -> point ..., each point with
`ROW` children. Only children whose sole parent is that node are moved (the rest keep their edges).
"""

from __future__ import annotations

from collections.abc import Iterable

import graphviz

__all__ = ["ROW", "Trunks"]

#: Most children of one node drawn side by side.
ROW = 8


class Trunks:
    """Where each link of a wide fan-out starts: the parent itself, or a trunk point below it.

    A trunk point is declared just before the middle child of the row above it (`declare`) and its
    line drawn just before that child's link (`before`), so that the layout puts it under the middle
    of that row and the rows stack straight down.
    """

    def __init__(self, links: Iterable[tuple[str, str]]) -> None:
        pairs = list(dict.fromkeys(links))
        children: dict[str, list[str]] = {}
        parents: dict[str, int] = {}
        for parent, child in pairs:
            children.setdefault(parent, []).append(child)
            parents[child] = parents.get(child, 0) + 1
        self.start: dict[tuple[str, str], str] = {}
        self.points: dict[tuple[str, str], tuple[str, str]] = {}
        self.declared: dict[str, list[str]] = {}
        for parent, kids in children.items():
            alone = [kid for kid in kids if parents[kid] == 1]
            if len(alone) <= ROW:
                continue
            rows = [alone[first : first + ROW] for first in range(0, len(alone), ROW)]
            above = parent
            for number, row in enumerate(rows[:-1], start=1):
                point = f"{parent}_row{number}"
                self.points[(parent, row[len(row) // 2])] = (above, point)
                self.declared.setdefault(row[len(row) // 2], []).append(point)
                for kid in rows[number]:
                    self.start[(parent, kid)] = point
                above = point

    def source(self, parent: str, child: str) -> str:
        """The DOT node the link from `parent` to `child` is drawn from."""
        return self.start.get((parent, child), parent)

    def declare(self, dot: graphviz.Digraph, name: str, color: str) -> None:
        """Declare the trunk points that belong just before the node `name`, if any.

        Args:
            dot: The drawing.
            name: The DOT node about to be declared.
            color: Colour of the trunk (the plain edge colour).
        """
        for point in self.declared.get(name, ()):
            dot.node(point, "", shape="point", width="0.05", color=color, style="filled", fillcolor=color)

    def before(self, dot: graphviz.Digraph, parent: str, child: str, color: str) -> None:
        """Draw the trunk line that belongs just before this link, if one does.

        Args:
            dot: The drawing.
            parent: The link's parent (as given to the constructor).
            child: The link's child.
            color: Colour of the trunk (the plain edge colour).
        """
        segment = self.points.get((parent, child))
        if segment is None:
            return
        above, point = segment
        dot.edge(above, point, arrowhead="none", style="solid", color=color)
