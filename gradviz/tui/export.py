"""The ``s`` key: the graph at the current step written to an SVG file in the current folder."""

from __future__ import annotations

import functools
from pathlib import Path

from textual.screen import Screen

from gradviz.errors import GradvizError
from gradviz.model import BackwardCall
from gradviz.output import write_file
from gradviz.render.svg import to_svg


def export_step(screen: Screen[None], backward: BackwardCall | None, step: int) -> None:
    """Write the graph at a step to ``gradviz-step-<call>-<k>.svg`` in the current folder.

    The layout engine runs in a worker thread, so a big graph does not freeze the screen.

    Args:
        screen: The screen that tells the user what happened.
        backward: The call shown (None: nothing to export).
        step: The step shown.
    """
    if backward is None:
        screen.notify("no backward call to export", severity="warning")
        return
    path = Path.cwd() / f"gradviz-step-{backward.index}-{step}.svg"
    screen.notify(f"exporting {path.name} ...", timeout=2)
    screen.run_worker(functools.partial(_export, screen, backward, step, path), thread=True, group="export")


def _export(screen: Screen[None], backward: BackwardCall, step: int, path: Path) -> None:
    try:
        write_file(path, to_svg(backward, step=step))
    except GradvizError as exc:
        screen.app.call_from_thread(screen.notify, f"could not export: {exc}", severity="error")
        return
    screen.app.call_from_thread(screen.notify, f"wrote {path}")
