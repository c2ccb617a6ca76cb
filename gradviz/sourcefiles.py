"""The user's source files, read for the HTML player's source pane (the renderers never read files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gradviz.model import Location, Trace

__all__ = ["MAX_SOURCE_BYTES", "read_sources"]

#: Source files bigger than this are not put into HTML pages.
MAX_SOURCE_BYTES = 1_000_000


def _matches(text: str, locations: Sequence[Location]) -> bool:
    """Whether a file still holds the lines the trace recorded (it may have changed, or be another)."""
    lines = text.splitlines()
    return all(
        location.code is None
        or (location.line <= len(lines) and lines[location.line - 1].strip() == location.code)
        for location in locations
    )


def read_sources(trace: Trace) -> dict[str, str]:
    """The text of the user's files named by the trace's locations, for the HTML pages' source pane.

    A relative file is looked up beside the traced script. Files that cannot be read, are too big,
    or no longer hold the recorded lines are left out (the page then shows the recorded lines only).

    Args:
        trace: What was recorded.

    Returns:
        Text by `Location.file`.
    """
    base = Path(trace.script).parent if trace.script else Path()
    wanted: dict[str, list[Location]] = {}
    for call in trace.backwards:
        for location in (call.location, *(node.location for node in call.graph.nodes)):
            if location is not None:
                wanted.setdefault(location.file, []).append(location)
    texts: dict[str, str] = {}
    for name, locations in wanted.items():
        path = Path(name) if Path(name).is_absolute() else base / name
        try:
            if not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _matches(text, locations):
            texts[name] = text
    return texts
