"""The user's script for a source pane: find the file a `Location` names, and read its lines.

Locations are recorded relative to the traced script's folder (``demo.py:8``, ``models/net.py:12``),
or absolute when the file lies outside it. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gradviz.model import Location

__all__ = ["SourceFile", "find_source", "read_source", "source_folders"]

#: Files bigger than this are not read into a pane.
MAX_SOURCE_BYTES = 2_000_000


class SourceFile:
    """A script's lines, read once.

    Args:
        path: Where the file was found.
        lines: Its lines, without line ends.
    """

    def __init__(self, path: Path, lines: Sequence[str]) -> None:
        self.path = path
        self.lines = tuple(lines)


def source_folders(script: str | None, source_root: str | Path | None = None) -> tuple[Path, ...]:
    """The folders a relative location may be relative to, most likely first.

    Args:
        script: The traced script as the user typed it (`Trace.script`), relative to the current folder.
        source_root: The folder locations were recorded relative to, when the caller knows it.

    Returns:
        Distinct folders: the source root, the script's folder, then the current folder.
    """
    folders: list[Path] = []
    if source_root is not None:
        folders.append(Path(source_root))
    if script:
        folders.append(Path(script).parent)
    folders.append(Path.cwd())
    return tuple(dict.fromkeys(folder.resolve() for folder in folders))


def find_source(location: Location, folders: Sequence[Path]) -> Path | None:
    """The file a location names, if it exists.

    Args:
        location: Where a node or call was made.
        folders: Where to look for a relative file (see `source_folders`).

    Returns:
        The path of an existing regular file, or None (``<stdin>``, ``<string>``, a deleted file).
    """
    if location.file.startswith("<"):
        return None
    path = Path(location.file)
    candidates = [path] if path.is_absolute() else [folder / path for folder in folders]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def read_source(path: Path) -> SourceFile | None:
    """Read a script's lines (undecodable bytes replaced), None when it cannot be read or is huge.

    Args:
        path: The file.

    Returns:
        The lines, or None.
    """
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return SourceFile(path, text.splitlines())
