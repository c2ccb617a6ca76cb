"""The source pane: the user's script, with the line that made the current node highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gradviz.model import Location
from gradviz.render import style as look
from gradviz.render.source import SourceFile, find_source, read_source

NUMBER = Style(color="grey50")
HIGHLIGHT = Style.parse(look.CURRENT.tui) if look.CURRENT.tui else Style(reverse=True)


class SourcePane(ScrollView, can_focus=True):
    """The script around the current node's line, that line highlighted and kept in the middle.

    When the file cannot be found (a trace opened elsewhere, ``<stdin>``), one line says so.

    | Key | Action |
    |---|---|
    | up / down, page up / page down | scroll |
    """

    BINDINGS = [  # noqa: RUF012
        Binding("shift+left", "scroll_left", "Scroll left", show=False),
        Binding("shift+right", "scroll_right", "Scroll right", show=False),
    ]

    def __init__(self, folders: Sequence[Path], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.folders = tuple(folders)
        self._files: dict[str, SourceFile | None] = {}
        self.source: SourceFile | None = None
        self.line: int | None = None
        self.message = "no source line recorded for this node"

    def show(self, location: Location | None) -> None:
        """Show the file of a location with its line highlighted (or one line saying why not).

        Args:
            location: Where the current node was made; None when no line was recorded.
        """
        self.source, self.line = None, None
        if location is None:
            self.message = "no source line recorded for this node"
        else:
            if location.file not in self._files:
                path = find_source(location, self.folders)
                self._files[location.file] = read_source(path) if path is not None else None
            self.source = self._files[location.file]
            if self.source is None:
                self.message = f"{location.file} not found"
            else:
                self.line = location.line
                self.border_subtitle = f"{location.file}:{location.line}"
        if self.source is None:
            self.border_subtitle = ""
            self.virtual_size = Size(len(self.message), 1)
        else:
            digits = len(str(len(self.source.lines)))
            width = max((len(text) for text in self.source.lines), default=0) + digits + 3
            self.virtual_size = Size(width, len(self.source.lines))
        self.refresh()
        self.call_after_refresh(self._centre)

    def on_resize(self) -> None:
        self._centre()

    def _centre(self) -> None:
        top = 0 if self.line is None else max(self.line - 1 - self.size.height // 2, 0)
        self.scroll_to(0, top, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if self.source is None:
            text = self.message if y == 0 else ""
            return (
                Strip([Segment(text, base)]).crop(scroll_x, scroll_x + width).extend_cell_length(width, base)
            )
        index = scroll_y + y
        if index >= len(self.source.lines):
            return Strip.blank(width, base)
        digits = len(str(len(self.source.lines)))
        number = index + 1
        text = self.source.lines[index].expandtabs(4)
        if number == self.line:
            line_style = base + HIGHLIGHT
            segments = [Segment(f"{number:>{digits}} ▶ ", line_style), Segment(text, line_style)]
            strip = Strip(segments).crop(scroll_x, scroll_x + width)
            return strip.extend_cell_length(width, line_style)
        segments = [Segment(f"{number:>{digits}}   ", base + NUMBER), Segment(text, base)]
        return Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width, base)
