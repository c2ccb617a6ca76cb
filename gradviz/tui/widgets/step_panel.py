"""The step pane: what the current backward step did, v in, J, vJ out (or a leaf's .grad)."""

from __future__ import annotations

import itertools
import re
import textwrap

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gradviz.model import Trace
from gradviz.render.stepview import StepView, last_step, step_view

#: Rich styles for the section kinds of `gradviz.render.stepview.Section`.
SECTION_STYLES = {
    "v": "yellow",
    "jacobian": "magenta",
    "vj": "green",
    "leaf": "cyan",
    "note": "grey62",
    "failed": "red",
}


def to_text(view: StepView) -> Text:
    """Turn a step view into styled text for the pane.

    Args:
        view: The step's content.

    Returns:
        Title, subtitle and sections, each section's title in bold.
    """
    text = Text()
    text.append(view.title + "\n", style="bold")
    if view.subtitle:
        text.append(view.subtitle + "\n", style="italic grey70")
    for section in view.sections:
        text.append("\n" + section.title + "\n", style="bold " + SECTION_STYLES.get(section.kind, ""))
        for line in section.lines:
            text.append("  " + line + "\n")
    text.rstrip()
    return text


class CodeWrapper(textwrap.TextWrapper):
    """Wraps at spaces, and inside a long piece of code after ``(`` or ``,`` rather than anywhere.

    ``loss.backward(retain_graph=True)`` then wraps as ``loss.backward(`` / ``retain_graph=True)``,
    never leaving ``)`` alone on a line.
    """

    # A call's "(" (after a name, not prose's "(x)") or a "," with no space after it.
    wordsep_re = re.compile(r"(\s+|(?<=\w\()(?=[^\s)])|(?<=,)(?=[^\s)\],]))")

    def _split(self, text: str) -> list[str]:
        """Chunks as textwrap makes them, but a bracketed value (``[0, 60]``) is one chunk when it fits
        a line, and breaks only after its ``, `` when it does not: never ``[ `` / ``0, 60]``."""
        chunks: list[str] = []
        group: list[str] = []
        depth = 0
        for chunk in super()._split(text):
            if not group and "[" not in chunk:
                chunks.append(chunk)
                continue
            group.append(chunk)
            depth += chunk.count("[") - chunk.count("]")
            if depth <= 0:
                chunks.extend(self._bracketed(group))
                group, depth = [], 0
        chunks.extend(self._bracketed(group))  # the first row of a matrix: "[[ 1,  10],"
        return chunks

    def _bracketed(self, group: list[str]) -> list[str]:
        whole = "".join(group)
        if not group or len(whole) <= self.width - len(self.subsequent_indent):
            return [whole] if group else []
        pieces = [group[0]]
        for before, chunk in itertools.pairwise(group):
            if chunk.isspace() and not before.endswith(("[", "(")):  # padding stays with its "["
                pieces.extend([chunk, ""])
            else:
                pieces[-1] += chunk
        return [piece for piece in pieces if piece]


def _wrapped(line: str, width: int, indent: str) -> list[str]:
    wrapper = CodeWrapper(width, subsequent_indent=indent + "  ", drop_whitespace=True)
    return wrapper.wrap(line) or [""]


def to_lines(view: StepView, width: int) -> list[Text]:
    """The step view as pane lines, wrapped to `width` (a Jacobian's rows and their heads keep their columns).

    Args:
        view: The step's content.
        width: Columns available.

    Returns:
        One styled line each; continuation lines are indented under their first one.
    """
    width = max(width, 20)
    lines = [Text(piece, style="bold") for piece in _wrapped(view.title, width, "")]
    if view.subtitle:
        lines.extend(Text(piece, style="italic grey70") for piece in _wrapped(view.subtitle, width, ""))
    for section in view.sections:
        lines.append(Text(""))
        style = "bold " + SECTION_STYLES.get(section.kind, "")
        lines.extend(Text(piece, style=style) for piece in _wrapped(section.title, width, ""))
        rows = [line.lstrip().startswith("[") for line in section.lines]
        for index, line in enumerate(section.lines):
            # A matrix row, or the column heads above one (v (row), J, v J), keeps its columns.
            if section.kind == "jacobian" and (rows[index] or rows[index + 1 : index + 2] == [True]):
                lines.append(Text("  " + line))
                continue
            indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
            lines.extend(Text(piece) for piece in _wrapped("  " + line, width, indent))
    return lines


class StepPanel(ScrollView, can_focus=True):
    """What the node at the current step received and sent.

    Shows the node's name and source line, the incoming gradient v, its local Jacobian J for small
    tensors (computed at capture time), and the vJ sent to each input, labelled with the node that
    receives it. For an AccumulateGrad node: the leaf's grad before + this contribution = grad after.
    One step past the last recorded one of a failed call, the error, where it was raised and the
    leaves that received nothing.
    Lines wrap to the pane's width, except a Jacobian's rows, which keep their columns (scroll sideways).

    | Key | Action |
    |---|---|
    | up / down, page up / page down | scroll the pane |
    | shift+left / shift+right | scroll sideways |
    """

    BINDINGS = [  # noqa: RUF012
        Binding("shift+left", "scroll_left", "Scroll left", show=False),
        Binding("shift+right", "scroll_right", "Scroll right", show=False),
    ]

    call: reactive[int] = reactive(1, init=False)
    step: reactive[int] = reactive(0, init=False)
    show_values: reactive[bool] = reactive(True, init=False)

    def __init__(self, trace: Trace, *, call: int = 1, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self._calls = {backward.index: backward for backward in trace.backwards}
        self.set_reactive(StepPanel.call, call)
        self.view: StepView | None = None
        self._lines: list[Strip] = []

    @property
    def text_lines(self) -> list[str]:
        """The pane's whole text as wrapped to its width, one string per line (scrolling aside)."""
        return [strip.text for strip in self._lines]

    def on_mount(self) -> None:
        self._redraw()

    def watch_call(self) -> None:
        self._redraw()

    def watch_step(self) -> None:
        self._redraw()

    def watch_show_values(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        backward = self._calls.get(self.call)
        # Leave room for the vertical scrollbar, which a long step brings.
        width = max(self.scrollable_content_region.width - 2, 20)
        if backward is None:
            self.view = None
            message = "No backward call was captured: nothing ran backward, so there are no steps."
            texts = [Text(piece) for piece in _wrapped(message, width, "")]
        else:
            step = max(0, min(self.step, last_step(backward)))
            # Section lines are indented by two columns.
            self.view = step_view(backward, step, show_values=self.show_values, width=width - 2)
            texts = to_lines(self.view, width)
        console = self.app.console
        self._lines = [Strip(list(line.render(console))) for line in texts]
        width = max((strip.cell_length for strip in self._lines), default=0)
        self.virtual_size = Size(width, len(self._lines))
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._lines[index].crop(scroll_x, scroll_x + width)
        return strip.apply_style(base).extend_cell_length(width, base)
