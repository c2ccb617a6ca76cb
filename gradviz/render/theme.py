"""Themes: the same drawing restyled for where it is shown.

``projector`` is for a room: larger type, thicker lines and arrows, and the muted greys darkened so
that every line reads at a distance. It rewrites the finished DOT source, so every part of a
drawing (nodes, edges, legend, module boxes, the collapsed view) changes alike, and the layout engine
sizes the boxes for the larger type.
"""

from __future__ import annotations

import math
import re

from gradviz.render.style import THEMES

__all__ = ["THEMES", "apply_theme"]

_SIZE = re.compile(r'\b(fontsize|point-size)=("?)([\d.]+)\2')
_WIDTH = re.compile(r'\b(penwidth|arrowsize)=("?)([\d.]+)\2')
_FONT_SCALE = 1.5
_LINE_SCALE = {"penwidth": 2.0, "arrowsize": 1.4}
#: Muted greys to darker ones: grey on a projector washes out.
_COLOURS = {
    "#6b7280": "#1f2937",
    "#9ca3af": "#4b5563",
    "#374151": "#111827",
    "#166534": "#14532d",
    "#15803d": "#166534",
}


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _scaled_size(match: re.Match[str]) -> str:
    name, quote, value = match.groups()
    # Whole points: the engine reads an HTML label's point-size as a whole number.
    return f"{name}={quote}{math.ceil(float(value) * _FONT_SCALE)}{quote}"


def _scaled_width(match: re.Match[str]) -> str:
    name, quote, value = match.groups()
    return f"{name}={quote}{_number(float(value) * _LINE_SCALE[name])}{quote}"


def apply_theme(dot_source: str, theme: str) -> str:
    """Restyle a drawing's DOT source.

    Args:
        dot_source: DOT from `gradviz.render.dot.to_dot`.
        theme: One of `THEMES`.

    Returns:
        The source itself for ``default``; for ``projector`` every font size x1.5 (rounded up), line
        widths x2, arrows x1.4, and muted greys darkened.

    Raises:
        ValueError: For an unknown theme.
    """
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    if theme == "default":
        return dot_source
    themed = _WIDTH.sub(_scaled_width, _SIZE.sub(_scaled_size, dot_source))
    # Edges and nodes without a penwidth of their own are drawn 1 wide: give them the theme's default.
    themed = themed.replace("\tnode [", "\tnode [penwidth=2 ", 1).replace(
        "\tedge [", "\tedge [penwidth=2 ", 1
    )
    return re.sub("|".join(_COLOURS), lambda colour: _COLOURS[colour.group(0)], themed)
