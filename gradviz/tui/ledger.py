"""The ledger view: each leaf's ``.grad`` and value over time, and the training loop (key ``l``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import ModalScreen
from textual.widgets import Static

from gradviz.model import Trace
from gradviz.render.ledger import to_ledger_text
from gradviz.tui.scrollbars import use_whole_cell_scrollbars

#: What the view says when the trace has no ledger (a trace.json from before it, or no leaf at all).
EMPTY = "No ledger: no leaf's .grad or value was seen changing in this trace."


class LedgerScreen(ModalScreen[None]):
    """The ledger as text, the same as ``ledger.txt``, in a box over the main screen.

    Rows are not wrapped: a row wider than the screen scrolls sideways.

    | Key | Action |
    |---|---|
    | escape, q, l | close |

    Args:
        trace: The trace whose ledger is shown.
    """

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("l", "dismiss", "Close", show=False),
    ]

    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self.text = to_ledger_text(trace) or EMPTY

    def compose(self) -> ComposeResult:
        with ScrollableContainer(id="ledger-box"):
            yield Static(self.text, markup=False, id="ledger-text")

    def on_mount(self) -> None:
        box = self.query_one("#ledger-box")
        box.border_subtitle = "escape: close"
        use_whole_cell_scrollbars(box)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
