"""The timeline pane: the forward events in order, with what autograd does not see highlighted."""

from __future__ import annotations

import posixpath
from collections import Counter

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from gradviz.model import Event
from gradviz.tui.messages import EventSelected

#: Rich style per event kind; plain ops stay unstyled.
KIND_STYLES = {
    "grad_mode": "bold yellow",
    "detach": "magenta",
    "inplace": "dark_orange",
    "data_read": "bold red",
    "data_write": "bold red",
    "requires_grad": "cyan",
    "retain_grad": "cyan",
    "backward": "bold green",
}
#: Short tags shown after the op name.
KIND_TAGS = {
    "grad_mode": "grad mode",
    "detach": "detach",
    "inplace": "in-place",
    "data_read": ".data",
    "data_write": ".data =",
    "requires_grad": "requires_grad",
    "retain_grad": "retain_grad",
    "backward": "backward",
}


#: Columns for the source line when events come from several files (the name is cut, never the line).
WHERE_WIDTH = 12


def main_file(events: tuple[Event, ...]) -> str | None:
    """The file most located events come from (the user's script, usually).

    Args:
        events: Forward events.

    Returns:
        The file's path as recorded; on a tie, the first in sorted order; None when no event has a line.
    """
    counts = Counter(event.location.file for event in events if event.location is not None)
    if not counts:
        return None
    return min(counts, key=lambda file: (-counts[file], file))


def where_text(event: Event, *, width: int, main: str | None = None) -> str:
    """An event's source line in at most `width` columns: the file name is shortened, never the line number.

    Args:
        event: A forward event.
        width: Columns available.
        main: The file named in the pane's border: its lines show as a bare number.

    Returns:
        ``"14"`` (in `main`), ``"copy.py:14"``, ``"08_inplace_e…:18"``, or ``"?"`` when the line is unknown.
    """
    location = event.location
    if location is None:
        return "?"
    if location.file == main:
        return str(location.line)
    line = f":{location.line}"
    name = posixpath.basename(location.file.replace("\\", "/"))
    room = max(width - len(line), 2)
    if len(name) > room:
        name = name[: room - 1] + "…"
    return name + line


def event_text(
    event: Event, *, where_width: int = WHERE_WIDTH, op_width: int = 20, main: str | None = None
) -> Text:
    """One timeline line: id, source line, op, what it is, and the grad_fn it made.

    Args:
        event: A forward event.
        where_width: Columns for the source line (a longer file name is shortened, never the line).
        op_width: Columns for the op name (longer ones are cut).
        main: The file named in the pane's border: its lines show as a bare number.

    Returns:
        Styled text; events under no_grad are dimmed, and versions are shown for in-place ops.
    """
    where = where_text(event, width=where_width, main=main)
    parts = [f"{event.id:>4} {where:<{where_width}} {event.op:<{op_width}.{op_width}}"]
    tag = KIND_TAGS.get(event.kind)
    if event.kind == "grad_mode" and event.enabled is not None:
        tag = "grad enabled" if event.enabled else "no_grad begins"
    if tag:
        parts.append(f" [{tag}]")
    if event.version_before is not None and event.version_after is not None:
        parts.append(f" _version {event.version_before}→{event.version_after}")
    if event.grad_fn:
        parts.append(f" → {event.grad_fn}")
    elif event.kind == "op" and event.grad_mode != "enabled":
        parts.append(f" ({event.grad_mode}: no grad_fn)")
    if event.detail:
        parts.append(f"  {event.detail}")
    style = KIND_STYLES.get(event.kind, "")
    if not style and event.grad_mode != "enabled":
        style = "grey50"
    return Text("".join(parts), style=style, no_wrap=True, overflow="ellipsis")


class Timeline(OptionList):
    """The forward timeline: every recorded op with its line.

    no_grad regions, detach, in-place ops (with their ``_version`` bump) and ``.data`` edits are
    highlighted. Selecting an event (enter or click) highlights its tensors in the graph.

    | Key | Action |
    |---|---|
    | up / down, page up / page down, home / end | move through the events |
    | enter | select the event: highlight its tensors in the graph |
    """

    BINDINGS = [Binding("enter", "select", "Select event", show=False)]  # noqa: RUF012

    def __init__(self, events: tuple[Event, ...], *, dropped: int = 0, id: str | None = None) -> None:
        main = main_file(events)
        # Columns as wide as the longest entry needs (up to the defaults), so a narrow pane shows more.
        where_width = min(
            max((len(where_text(e, width=WHERE_WIDTH, main=main)) for e in events), default=1),
            WHERE_WIDTH,
        )
        op_width = min(max((len(event.op) for event in events), default=1), 20)
        options = [
            Option(
                event_text(event, where_width=where_width, op_width=op_width, main=main),
                id=f"e{event.id}",
            )
            for event in events
        ]
        if dropped:
            options.append(
                Option(Text(f"… {dropped} more events were not recorded", style="grey50"), disabled=True)
            )
        if not events:
            options.append(Option(Text("No forward events were recorded.", style="grey50"), disabled=True))
        super().__init__(*options, id=id)
        self.events = events
        #: The file most events come from: the border names it, and its rows show the line number alone.
        self.file = main

    def show_event(self, event: int) -> None:
        """Move the cursor to an event (without selecting it).

        Args:
            event: Id of the event; ignored when the timeline does not list it.
        """
        try:
            self.highlighted = self.get_option_index(f"e{event}")
        except OptionDoesNotExist:
            return

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        option_id = message.option.id
        if option_id is not None:
            self.post_message(EventSelected(int(option_id[1:])))
