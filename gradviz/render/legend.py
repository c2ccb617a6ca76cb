"""The legend: one row per kind of node, and each kind of edge drawn as the edges it stands for.

A drawing adds the entries for the kinds it shows (`add_legend`); `legend_dot` draws the legend alone,
every kind by default, for a page that explains the drawings once instead of beside each of them.
"""

from __future__ import annotations

from collections.abc import Iterable

import graphviz

from gradviz.render.labels import html_label, small, text
from gradviz.render.style import (
    DEFAULT_OPTIONS,
    EDGE_KINDS,
    FONT,
    FONT_SIZE,
    LOOKS,
    MONO_FONT,
    SMALL_FONT_SIZE,
    Look,
    RenderOptions,
    legend_entries,
)
from gradviz.render.theme import apply_theme

__all__ = ["add_legend", "legend_dot"]

_PLAIN = {"style": "solid", "fillcolor": "white", "color": "black", "fontcolor": "black", "penwidth": "1"}


def add_legend(dot: graphviz.Digraph, looks: Iterable[Look]) -> None:
    """Add a legend of these looks to a drawing, on a rank of its own at the bottom.

    Args:
        dot: The drawing.
        looks: The entries, in legend order (`legend_entries`).
    """
    looks = tuple(looks)
    rows = ['<tr><td colspan="2" border="0"><b>legend</b></td></tr>']
    rows.extend(_legend_row(look) for look in looks if look.kind not in EDGE_KINDS)
    table = '<table border="1" color="#9ca3af" cellborder="1" cellspacing="4" cellpadding="3">'
    with dot.subgraph(name="legend_rank") as bottom:
        bottom.attr(rank="sink")
        bottom.node("legend", f"<{table}{''.join(rows)}</table>>", shape="plaintext", margin="0", **_PLAIN)
        # Edge entries are drawn as edges, with the very attributes of the edges they stand for.
        for look in looks:
            if look.kind in EDGE_KINDS:
                # The description is the edge's tail, so it never overlaps the line in any rankdir.
                described, end = f"legend_{look.kind}", f"legend_{look.kind}_to"
                label = html_label([small(look.legend, color="black")])
                bottom.node(described, label, shape="plaintext", margin="0.05", **_PLAIN)
                bottom.node(end, "", shape="point", style="invis", width="0.01")
                bottom.edge(described, end, minlen="2", **look.edge_attrs())


def legend_dot(kinds: Iterable[str] | None = None, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """DOT source for the legend alone.

    Args:
        kinds: Look kinds to list (`gradviz.render.style.LOOKS`' kinds); None lists every kind.
        options: ``rankdir`` and ``theme`` apply as in a drawing.

    Returns:
        DOT source; the same text for the same input.
    """
    dot = graphviz.Digraph(
        name="gradviz_legend",
        graph_attr={"rankdir": options.rankdir, "fontname": FONT},
        node_attr={"fontname": FONT, "fontsize": FONT_SIZE},
        edge_attr={"fontname": MONO_FONT, "fontsize": SMALL_FONT_SIZE, "arrowsize": "0.7"},
    )
    add_legend(dot, LOOKS if kinds is None else legend_entries(kinds))
    return apply_theme(dot.source, options.theme)


def _legend_row(look: Look) -> str:
    description = f'<td border="0" align="left">{small(look.legend, color="black")}</td>'
    fill = "white" if "filled" not in look.style else look.fill
    dashed = ' style="dashed"' if "dashed" in look.style else ""
    width = "2" if float(look.penwidth) > 1 else "1"
    swatch = (
        f'<td bgcolor="{fill}" color="{look.border}" border="{width}"{dashed}>'
        f'<font color="{look.font_color}">{text(look.kind)}</font></td>'
    )
    return f"<tr>{swatch}{description}</tr>"
