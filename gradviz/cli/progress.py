"""A progress bar for drawing that shows only when drawing takes more than a second, on a terminal."""

from __future__ import annotations

import sys
import threading
from typing import Any

#: Seconds of drawing before the bar appears.
DELAY = 1.0


class DrawingProgress:
    """Told before each captured call is drawn; shows a rich bar on stderr once drawing runs past `DELAY`.

    Nothing is shown when stderr is not a terminal (a log file or a pipe gets no control codes).
    """

    def __init__(self, *, delay: float = DELAY) -> None:
        self.delay = delay
        self.position = 0
        self.total = 0
        self.closed = False
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, position: int, total: int) -> None:
        """Record that call `position` (from 0) of `total` is about to be drawn."""
        with self.lock:
            self.position, self.total = position, total
            if self.bar is not None:
                self.bar.update(self.task, completed=position, total=total)
            elif self.timer is None and not self.closed and sys.stderr.isatty():
                self.timer = threading.Timer(self.delay, self.show)
                self.timer.daemon = True
                self.timer.start()

    def show(self) -> None:
        """Put the bar up (from the timer thread)."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with self.lock:
            if self.closed:
                return
            self.bar = Progress(
                TextColumn("gradviz: drawing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            self.task = self.bar.add_task("drawing", total=self.total, completed=self.position)
            self.bar.start()

    def close(self) -> None:
        """Take the bar down (or make sure it never comes up)."""
        with self.lock:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            if self.bar is not None:
                self.bar.stop()
                self.bar = None
