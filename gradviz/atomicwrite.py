"""Files written whole or not at all: each goes to a temp file beside it and is then renamed over its name.

A full disk leaves the old file (or none), never a truncated one; an OS error becomes one `WriteFailed`
line that lists what was written before it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from gradviz.errors import GradvizError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: What a plain ``open(path, "w")`` would give a new file (mkstemp makes it 0600).
_FILE_MODE = 0o666 & ~_umask()


class WriteFailed(GradvizError):
    """A file could not be written; what was written before it is listed.

    Attributes:
        written: The files written before the failure.
    """

    def __init__(self, message: str, written: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.written = list(written)


def write_file(path: Path, data: str | bytes | Iterable[str], *, keep: Path | None = None) -> None:
    """Write a file atomically: into a temp file beside it, then renamed over it.

    Args:
        path: The file to write.
        data: Its content (text is written as UTF-8); pieces of text are written as they come, so a
            big trace.json never exists as one string.
        keep: A file that must never be overwritten (the input of ``gradviz render``).

    Raises:
        WriteFailed: The file is `keep`, or it could not be written (the old file, if any, is left
            as it was and no temp file remains).
    """
    if keep is not None and path.exists() and keep.exists() and os.path.samefile(path, keep):
        raise WriteFailed(f"will not overwrite the input {keep} with {path.name}: choose another --out")
    temp: str | None = None
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        if isinstance(data, (str, bytes)):
            with os.fdopen(handle, "wb") as stream:
                stream.write(data.encode("utf-8") if isinstance(data, str) else data)
        else:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as text:
                text.writelines(data)
        mode = os.stat(path).st_mode & 0o7777 if path.exists() else _FILE_MODE
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise WriteFailed(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:  # pieces of text come from a generator, which may raise anything
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise


class FolderWriter:
    """Writes files into one folder and remembers them, turning OS errors into one line."""

    def __init__(self, out_dir: Path, keep: Path | None = None) -> None:
        self.out_dir = out_dir
        self.keep = keep
        self.written: list[Path] = []

    def write(self, name: str, data: str | bytes | Iterable[str]) -> None:
        """Write one file of the folder (`write_file`).

        Raises:
            WriteFailed: It could not be written; ``written`` lists the files written before it.
        """
        path = self.out_dir / name
        try:
            write_file(path, data, keep=self.keep)
        except WriteFailed as exc:
            raise WriteFailed(str(exc), self.written) from None
        if path not in self.written:
            self.written.append(path)
