"""The ledger view: each leaf's ``.grad`` and value over time, and the training loop (key ``l``)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gradviz.model import Trace
from gradviz.render.ledger import to_ledger_text

#: What the view says when the trace has no ledger (a trace.json from before it, or no leaf at all).
EMPTY = "No ledger: no leaf's .grad or value was seen changing in this trace."


class LedgerScreen(ModalScreen[None]):
    """The ledger as text, the same as ``ledger.txt``, in a scrolling box over the main screen.

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
        with VerticalScroll(id="ledger-box"):
            yield Static(self.text, markup=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)
