"""The help screen and the jump-to-node prompt."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

INTRO = (
    "Step k is the state after k nodes ran. The graph shows the node running at step k in reverse "
    "red, nodes that already ran in green with a ✓, AccumulateGrad (leaf) nodes with heavy borders, "
    "and no_grad / detach / .data ghosts dimmed with dashed borders."
)
#: The keys, as (keys, what they do).
KEYS = (
    ("n  →", "next step"),
    ("p  ←", "previous step"),
    ("home  g", "first step (before backward runs)"),
    ("end  G", "last step"),
    ("j", "jump to a node (by id, grad_fn name or tensor name)"),
    ("]  [", "next / previous captured backward call"),
    ("v", "toggle values / shapes"),
    ("s", "export the current view to gradviz-step-<call>-<k>.svg"),
    ("c", "centre the graph on the current node"),
    ("tab", "move between the graph, step and timeline panes"),
    ("enter", "in the timeline: highlight the event's tensors in the graph"),
    ("escape", "clear the highlight"),
    ("?", "this help"),
    ("q", "quit"),
)


def help_text() -> Text:
    """The help screen's content: what the picture shows, then one line per key.

    Returns:
        Styled text.
    """
    text = Text()
    text.append("gradviz: backward, step by step\n\n", style="bold")
    text.append(INTRO + "\n\n")
    for keys, action in KEYS:
        text.append(f"  {keys:<10}", style="bold cyan")
        text.append(action + "\n")
    text.append("\nClick a node to jump to its step; scroll the panes with the mouse wheel.", style="italic")
    return text


class HelpScreen(ModalScreen[None]):
    """The keys, in a box over the main screen.

    | Key | Action |
    |---|---|
    | escape, q, ? | close |
    """

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(help_text())

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class JumpScreen(ModalScreen[str | None]):
    """Ask which node to jump to.

    | Key | Action |
    |---|---|
    | enter | jump |
    | escape | cancel |
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-box"):
            yield Static("Jump to node: its id (3 or #3), grad_fn name (MulBackward0) or tensor name (x)")
            yield Input(placeholder="node", id="jump-input")

    def on_input_submitted(self, message: Input.Submitted) -> None:
        self.dismiss(message.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
