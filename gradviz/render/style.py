"""Colours, shapes, fonts, legend entries and value formatting shared by every renderer and the TUI.

Fonts are here; each kind's `Look` is in `gradviz.render.looks`, `RenderOptions` in
`gradviz.render.options`, value formatting in `gradviz.render.values`: all are importable from here.
"""

from __future__ import annotations

from gradviz.render.looks import (
    CURRENT,
    DATA_EDIT,
    DETACH,
    EDGE,
    EDGE_KINDS,
    FLOW,
    GRADIENT,
    INPLACE,
    LEAF,
    LOOKS,
    MOVE,
    NO_GRAD,
    NOT_REACHED,
    NOTE,
    OP,
    OVERLAY_LOOKS,
    PENDING,
    RAISED,
    REQUIRES_GRAD_OFF,
    RETAINS_GRAD,
    ROOT,
    WARNING,
    Look,
    legend_entries,
    node_look,
    overlay_look,
)
from gradviz.render.options import DEFAULT_OPTIONS, RANKDIRS, THEMES, RenderOptions
from gradviz.render.values import format_nested, format_number, format_shape, format_value, is_zero

__all__ = [
    "CURRENT",
    "DATA_EDIT",
    "DEFAULT_OPTIONS",
    "DETACH",
    "EDGE",
    "EDGE_KINDS",
    "FLOW",
    "GRADIENT",
    "INPLACE",
    "LEAF",
    "LOOKS",
    "MONO_STACK",
    "MOVE",
    "NOTE",
    "NOT_REACHED",
    "NO_GRAD",
    "OP",
    "OVERLAY_LOOKS",
    "PENDING",
    "RAISED",
    "RANKDIRS",
    "REQUIRES_GRAD_OFF",
    "RETAINS_GRAD",
    "ROOT",
    "SANS_STACK",
    "THEMES",
    "WARNING",
    "Look",
    "RenderOptions",
    "format_nested",
    "format_number",
    "format_shape",
    "format_value",
    "is_zero",
    "legend_entries",
    "node_look",
    "overlay_look",
]

#: Fonts the layout engine has metrics for (it has none for "monospace" and falls back to Times).
#: DejaVu Sans is as wide as the widest common sans-serif, so every font of `SANS_STACK` fits its boxes.
FONT = "DejaVu Sans"
MONO_FONT = "Courier"
#: What the SVG asks the viewer for: fonts no wider than the layout's, most alike first.
SANS_STACK = "'DejaVu Sans',Verdana,Helvetica,Arial,'Liberation Sans',sans-serif"
MONO_STACK = "'DejaVu Sans Mono',Menlo,Courier,'Courier New','Liberation Mono',monospace"
FONT_SIZE = "11"
SMALL_FONT_SIZE = "9"
MUTED = "#6b7280"
