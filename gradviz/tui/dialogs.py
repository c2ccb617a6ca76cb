"""The help screen and the jump-to-node prompt."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

INTRO = (
    "Step k is the state after k nodes ran. The graph shows the node running at step k in reverse "
    "red, nodes that already ran in green with a ✓, AccumulateGrad (leaf) nodes with heavy borders, "
    "no_grad / detach / .data ghosts dashed, and module boxes (big graphs) with double borders."
)
#: The keys, as (keys, what they do), shown in two columns.
KEYS = (
    ("n  →", "next step"),
    ("p  ←", "previous step"),
    ("g  home", "first step (nothing ran)"),
    ("G  end", "last step"),
    ("]  [", "next / previous call"),
    ("j", "jump to a node"),
    ("c", "centre on the current node"),
    ("t", "source / forward timeline"),
    ("x", "expand / collapse module"),
    ("+  -", "module boxes deeper/shallower"),
    ("f", "every node / module boxes"),
    ("v", "values / shapes"),
    ("s", "export this step as SVG"),
    ("tab", "next pane"),
    ("enter", "timeline: show its tensors"),
    ("escape", "clear the highlight"),
    ("?", "this help"),
    ("q", "quit"),
)
#: Columns of one key entry: the keys, then what they do.
KEY_WIDTH, ACTION_WIDTH = 8, 30


def help_text() -> Text:
    """The help screen's content: what the picture shows, then the keys in two columns.

    Returns:
        Styled text, at most 76 columns wide, so that it fits an 80x24 terminal.
    """
    text = Text()
    text.append("gradviz: backward, step by step\n\n", style="bold")
    text.append(INTRO + "\n\n")
    half = (len(KEYS) + 1) // 2
    for row in range(half):
        for keys, action in KEYS[row::half][:2] if row + half < len(KEYS) else KEYS[row : row + 1]:
            text.append(f"{keys:<{KEY_WIDTH}}", style="bold cyan")
            text.append(f"{action:<{ACTION_WIDTH}}")
        text.append("\n")
    text.append("\nClick a node to jump to its step; the mouse wheel scrolls.", style="italic")
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
        with VerticalScroll(id="help-box"):
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
