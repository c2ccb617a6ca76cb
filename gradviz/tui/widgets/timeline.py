"""The timeline pane: the forward events in order, with what autograd does not see highlighted."""

from __future__ import annotations

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


def event_text(event: Event, *, where_width: int = 18, op_width: int = 20) -> Text:
    """One timeline line: id, source line, op, what it is, and the grad_fn it made.

    Args:
        event: A forward event.
        where_width: Columns for the source line (longer ones are cut).
        op_width: Columns for the op name (longer ones are cut).

    Returns:
        Styled text; events under no_grad are dimmed, and versions are shown for in-place ops.
    """
    where = str(event.location) if event.location is not None else "?"
    parts = [f"{event.id:>4} {where:<{where_width}.{where_width}} {event.op:<{op_width}.{op_width}}"]
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
        # Columns as wide as the longest entry needs (up to the defaults), so a narrow pane shows more.
        where_width = min(max((len(str(e.location)) for e in events if e.location), default=1), 18)
        op_width = min(max((len(event.op) for event in events), default=1), 20)
        options = [
            Option(event_text(event, where_width=where_width, op_width=op_width), id=f"e{event.id}")
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
