"""Scrollbars drawn in whole cells: at one cell thick, textual's partial-block ends look like stray glyphs."""

from __future__ import annotations

from typing import ClassVar

from textual.scrollbar import ScrollBarRender
from textual.widget import Widget

#: The block characters textual puts at a scrollbar thumb's ends for sub-cell positions.
PARTIAL_BLOCKS = "▁▂▃▄▅▆▇▉▊▋▌▍▎▏"


class WholeCellScrollBarRender(ScrollBarRender):
    """A scrollbar whose thumb is whole coloured cells, without partial-block characters at its ends."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


def use_whole_cell_scrollbars(*widgets: Widget) -> None:
    """Draw the scrollbars of these widgets in whole cells (only theirs: textual's default stays).

    Args:
        widgets: Scrollable widgets, mounted.
    """
    for widget in widgets:
        # textual documents this per-instance override of the ClassVar.
        widget.vertical_scrollbar.renderer = WholeCellScrollBarRender  # type: ignore[misc]
        widget.horizontal_scrollbar.renderer = WholeCellScrollBarRender  # type: ignore[misc]
