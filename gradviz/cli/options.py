"""Option values and the files the commands read and write before any user code runs."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gradviz.errors import UsageError

if TYPE_CHECKING:
    from gradviz.model import Trace

FORMATS = ("svg", "dot", "json", "html", "png", "pdf")
DEFAULT_OUT = "gradviz-out"
#: The highest --dpi: a 5-node drawing is then about 8,000 px tall.
MAX_DPI = 1200


def parse_formats(text: str) -> tuple[str, ...]:
    """Parse ``--format svg,dot``: known names, in the order given, without repeats.

    Args:
        text: Comma-separated format names.

    Returns:
        The formats.

    Raises:
        argparse.ArgumentTypeError: For an empty list or an unknown format.
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format {','.join(unknown) or repr(text)!s} (choose from {', '.join(FORMATS)})"
        )
    return tuple(dict.fromkeys(names))


def parse_max_backward(text: str) -> int | None:
    """Parse ``--max-backward``: a count of at least 0, or ``all`` (None: no limit).

    Args:
        text: The option's value.

    Returns:
        The count, or None for ``all``.

    Raises:
        argparse.ArgumentTypeError: For anything else.
    """
    if text.lower() == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}")
    return int(text)


def writable_folder(path: str) -> Path:
    """Make sure a folder exists and a file can be created in it.

    Args:
        path: The folder.

    Returns:
        The folder as a Path.

    Raises:
        UsageError: When it cannot be created or written to.
    """
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {path}: {exc.strerror or exc}") from None
    return folder


@contextlib.contextmanager
def folder_for_run(path: str) -> Iterator[Path]:
    """`writable_folder`, for a run whose bad input shows only once it starts (``-m`` with no such module).

    Args:
        path: The output folder.

    Yields:
        The folder as a Path.

    Raises:
        UsageError: When it cannot be created or written to, or when the run raises one; then the folders
            made here are taken back while they are still empty.
    """
    made = []
    missing = Path(path)
    while not missing.exists() and missing != missing.parent:
        made.append(missing)  # deepest first
        missing = missing.parent
    folder = writable_folder(path)
    try:
        yield folder
    except UsageError:
        for part in made:
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                part.rmdir()
        raise


def rank_folder(folder: str, environ: Mapping[str, str] = os.environ) -> str:
    """The output folder of this process: under torchrun (``WORLD_SIZE`` > 1), its ``rank-<RANK>`` subfolder.

    Every rank runs the whole script, so each writes its own trace beside the others'.

    Args:
        folder: The folder from ``--out`` or the default.
        environ: The environment, where torchrun sets ``RANK`` and ``WORLD_SIZE``.

    Returns:
        ``folder/rank-<RANK>`` in a multi-process run, else ``folder``.
    """
    rank, world = environ.get("RANK", ""), environ.get("WORLD_SIZE", "")
    if not (rank.isdigit() and world.isdigit()) or int(world) <= 1:
        return folder
    return os.path.join(folder, f"rank-{int(rank)}")


def load_trace(path: str) -> Trace:
    """Read a saved trace.json.

    Args:
        path: Its path.

    Returns:
        The trace.

    Raises:
        TraceFileError: When it is missing, unreadable, too big, too deeply nested, not JSON or of
            another schema; the message names the file.
    """
    from gradviz.errors import TraceFileError
    from gradviz.render.json import from_json

    try:
        text = Path(path).read_bytes()
        return from_json(text)
    except OSError as exc:
        raise TraceFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except MemoryError:
        raise TraceFileError(f"cannot read {path}: it is too big to load into memory") from None
    except TraceFileError as exc:
        raise TraceFileError(f"cannot read {path}: {exc}") from None


def parse_depth(text: str) -> int:
    """Parse ``--depth``: a module depth of at least 0.

    Args:
        text: The option's value.

    Returns:
        The depth.

    Raises:
        argparse.ArgumentTypeError: For anything but a number of at least 0.
    """
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a module depth (0, 1, 2, ...), got {text!r}")
    return int(text)


def parse_rankdir(text: str) -> str:
    """Parse ``--rankdir``: ``TB`` or ``LR`` (any case).

    Raises:
        argparse.ArgumentTypeError: For anything else.
    """
    if text.upper() not in ("TB", "LR"):
        raise argparse.ArgumentTypeError(f"expected TB or LR, got {text!r}")
    return text.upper()


def parse_dpi(text: str) -> int:
    """Parse ``--dpi``: a resolution from 1 to 1200 dots per inch.

    Raises:
        argparse.ArgumentTypeError: For anything else.
    """
    if not text.isdigit() or not 1 <= int(text) <= MAX_DPI:
        raise argparse.ArgumentTypeError(f"expected dots per inch from 1 to {MAX_DPI}, got {text!r}")
    return int(text)


def add_drawing_options(parser: argparse.ArgumentParser) -> None:
    """``--depth N`` / ``--full`` (collapsed or full drawing), ``--no-legend``, ``--rankdir``, ``--dpi``,
    ``--theme``."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--depth",
        type=parse_depth,
        metavar="N",
        help="draw each module at depth N as one box (1: model.encoder, 3: model.encoder.layers.3), "
        "repeats folded; 0 folds repeated runs of nodes (default: every node up to 300, collapsed above)",
    )
    how.add_argument("--full", action="store_true", help="draw every node, whatever the size of the graph")
    parser.add_argument("--no-legend", action="store_true", help="leave the legend out of the drawings")
    parser.add_argument(
        "--rankdir",
        type=parse_rankdir,
        default="TB",
        metavar="TB|LR",
        help="layout direction: TB root at the top (default), LR root at the left",
    )
    parser.add_argument(
        "--dpi", type=parse_dpi, metavar="N", help="resolution of PNG drawings (default: the engine's, 96)"
    )
    parser.add_argument(
        "--theme",
        choices=("default", "projector"),
        default="default",
        help="projector: larger type, thicker lines and darker greys, for a room",
    )


def add_output_options(
    parser: argparse.ArgumentParser, out_default: str, default: str = "svg", *, trace_json: bool = True
) -> None:
    """The ``--out``, ``--format`` and drawing options (`add_drawing_options`) that subcommands share."""
    also = "; trace.json is always written" if trace_json else ""
    parser.add_argument("--out", metavar="DIR", help=f"folder for the outputs (default: {out_default})")
    parser.add_argument(
        "--format",
        type=parse_formats,
        default=(default,),
        metavar="FMT[,FMT...]",
        help=f"per-call formats among {','.join(FORMATS)} (default: {default}){also}",
    )
    add_drawing_options(parser)
