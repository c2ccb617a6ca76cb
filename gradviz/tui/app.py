"""The gradviz TUI: open a trace and step through its backward calls.

Never imports torch or gradviz.capture, so a saved trace.json opens on a machine without torch.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from gradviz.model import Trace
from gradviz.tui.dialogs import HelpScreen
from gradviz.tui.screens import TraceScreen


class GradvizApp(App[int]):
    """Loads a trace and pushes the screen that steps through it.

    | Key | Action |
    |---|---|
    | ? | help |
    | q | quit |

    Args:
        trace: What was captured.
        call: 1-based index (`BackwardCall.index`) of the backward call to show first.
        engine: False to lay graphs out without the layout engine (the layered fallback).
        source_root: The folder the trace's source locations are relative to (the script's folder),
            for the source pane; by default the folder of `Trace.script`, then the current one.
    """

    CSS_PATH = "gradviz.tcss"
    TITLE = "gradviz"
    BINDINGS = [  # noqa: RUF012
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self, trace: Trace, *, call: int = 1, engine: bool = True, source_root: str | Path | None = None
    ) -> None:
        super().__init__()
        self.trace = trace
        self.call = call
        self.engine = engine
        self.source_root = source_root

    def on_mount(self) -> None:
        self.push_screen(
            TraceScreen(self.trace, call=self.call, engine=self.engine, source_root=self.source_root)
        )

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen())


def run_tui(trace: Trace, *, call: int = 1, source_root: str | Path | None = None) -> int:
    """Open the TUI on a trace and wait until the user quits.

    Args:
        trace: What was captured (from a Tracer or `gradviz.load`).
        call: 1-based index of the backward call to show first.
        source_root: The folder source locations are relative to (see `GradvizApp`).

    Returns:
        The exit status for the command line: 0.
    """
    app = GradvizApp(trace, call=call, source_root=source_root)
    app.run()
    return app.return_code or 0
