"""Messages the TUI's widgets and screen send each other, named for what has happened."""

from __future__ import annotations

from textual.message import Message


class StepChanged(Message):
    """The screen moved to another step (or another backward call).

    Args:
        call: 1-based index of the backward call shown.
        step: How many steps have run (0 .. number of steps).
    """

    def __init__(self, call: int, step: int) -> None:
        super().__init__()
        self.call = call
        self.step = step


class NodeClicked(Message):
    """A node box in the graph view was clicked.

    Args:
        node: Id of the node.
    """

    def __init__(self, node: int) -> None:
        super().__init__()
        self.node = node


class EventSelected(Message):
    """An event of the forward timeline was selected.

    Args:
        event: Id of the event.
    """

    def __init__(self, event: int) -> None:
        super().__init__()
        self.event = event
