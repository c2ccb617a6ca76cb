"""Write a trace to a folder: ``trace.json`` plus ``backward-NNN.<fmt>`` per captured call.

Every file is written whole or not at all (`gradviz.atomicwrite`), so a full disk leaves the old file
(or none), never a truncated one. When no layout engine runs, the DOT source and trace.json are still
written and `LayoutSkipped` says so in one line (with the files in ``written``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from gradviz.atomicwrite import FolderWriter, WriteFailed, write_file
from gradviz.errors import GradvizError, LayoutEngineMissing
from gradviz.model import BackwardCall, LedgerEntry, Trace
from gradviz.render.callcap import bounded_trace
from gradviz.render.collapse import choose_depth
from gradviz.render.dot import is_collapsed, to_dot
from gradviz.render.html import to_html
from gradviz.render.json import call_to_json, json_chunks
from gradviz.render.ledger import to_ledger_dot, to_ledger_text
from gradviz.render.pagedata import other_views
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions
from gradviz.render.svg import MISSING_HINT, LayoutTimedOut, run_layout
from gradviz.sourcefiles import read_sources

__all__ = ["FORMATS", "LayoutSkipped", "OutputIncomplete", "WriteFailed", "write_file", "write_outputs"]

#: Told before each captured call is drawn: its position (from 0) and how many there are.
Progress = Callable[[int, int], None]

#: The per-call formats, in the order the CLI lists them.
FORMATS = ("svg", "dot", "json", "html", "png", "pdf")
_DRAWN = frozenset({"svg", "png", "pdf"})


class OutputIncomplete(GradvizError):
    """Some drawings could not be made; what could be written was (DOT in their place).

    Attributes:
        written: The files that were written.
    """

    def __init__(self, message: str, written: Sequence[Path]) -> None:
        super().__init__(message)
        self.written = list(written)


class LayoutSkipped(OutputIncomplete, LayoutEngineMissing):
    """No layout engine ran: trace.json and the DOT files were written instead of drawings."""


def _no_drawing(
    call: BackwardCall, options: RenderOptions, sources: dict[str, str], ledger: tuple[LedgerEntry, ...]
) -> str:
    return to_html(call, None, options=options, sources=sources, ledger=ledger)


def _others(call: BackwardCall, options: RenderOptions, layouts: _Layouts) -> list[tuple[str, RenderOptions]]:
    """The other drawings for the HTML page (to expand and collapse modules) that could be made."""
    drawn = []
    for other in other_views(call, options):
        try:
            drawn.append((layouts.run(to_dot(call, options=other), "svg").decode("utf-8"), other))
        except GradvizError:
            continue
    return drawn


def _check(formats: Sequence[str]) -> list[str]:
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise GradvizError(f"unknown format {', '.join(unknown)}: choose from {','.join(FORMATS)}")
    return list(dict.fromkeys(formats))


def _cheaper(call: BackwardCall, options: RenderOptions) -> RenderOptions | None:
    """The collapsed view to draw when the full drawing timed out; None when that was already collapsed."""
    if is_collapsed(call.graph, options):
        return None
    return replace(options, full=False, depth=choose_depth(call.graph))


class _Layouts:
    """Runs the layout engine for one write, skipping drawings at least as big as one that timed out."""

    def __init__(self, dpi: int | None = None) -> None:
        self.dpi = dpi
        self.too_big: int | None = None
        self.skipped = 0

    def run(self, dot: str, fmt: str) -> bytes:
        if self.too_big is not None and len(dot) >= self.too_big:
            self.skipped += 1
            raise LayoutTimedOut("skipped: an earlier drawing as big timed out", 0)
        try:
            return run_layout(dot, fmt, dpi=self.dpi)
        except LayoutTimedOut:
            self.too_big = len(dot) if self.too_big is None else min(self.too_big, len(dot))
            raise


def _write_ledger(
    trace: Trace, writer: FolderWriter, layouts: _Layouts, missing: bool, problems: list[str], svg: bool
) -> bool:
    """``ledger.txt`` and ``ledger.svg`` (DOT when no engine runs), when something happened between calls."""
    if not trace.ledger or not (trace.backward_calls > 1 or any(e.kind != "backward" for e in trace.ledger)):
        return missing
    writer.write("ledger.txt", to_ledger_text(trace))
    if not svg:
        return missing
    dot = to_ledger_dot(trace)
    if missing:
        writer.write("ledger.dot", dot)
        return missing
    try:
        writer.write("ledger.svg", layouts.run(dot, "svg"))
    except LayoutEngineMissing:
        writer.write("ledger.dot", dot)
        return True
    except LayoutTimedOut as exc:
        problems.append(f"ledger.svg: {exc}; wrote DOT instead")
        writer.write("ledger.dot", dot)
    return missing


def write_outputs(
    trace: Trace,
    out_dir: Path,
    formats: Sequence[str],
    *,
    options: RenderOptions = DEFAULT_OPTIONS,
    keep: Path | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write trace.json and, per captured backward call, ``backward-NNN.<fmt>`` for each format; with a
    ledger, ``ledger.txt`` and ``ledger.svg`` (when svg is a format).

    Each file is written atomically (`write_file`). A full drawing whose layout runs past its time
    limit is replaced by the collapsed view (and its DOT file is written); a collapsed one by its DOT
    file. Later drawings at least as big as one that timed out are not tried again.

    Args:
        trace: What was recorded.
        out_dir: The folder; created when missing.
        formats: Any of ``svg``, ``dot``, ``json`` (the call alone), ``html``, ``png``, ``pdf``.
        options: What the drawings show.
        keep: The trace file this trace was read from: trace.json is then not written, and no
            output may replace this file (``gradviz render`` never writes to its input).
        progress: Told before each call is drawn (for a progress bar).

    Returns:
        The files written, trace.json first (when written).

    Raises:
        LayoutSkipped: No layout engine runs; trace.json, the DOT files and drawing-less HTML pages
            were written (listed in ``written``). Its message is the one line to show the user.
        OutputIncomplete: The engine could not make some format (graphviz-pure has no pdf) or ran past
            its time limit; DOT was written in its place.
        WriteFailed: A file cannot be written (a full disk, a folder in the way) or would replace
            `keep`; the files written before it are listed.
        GradvizError: A format is unknown, or the folder cannot be created.
    """
    wanted = _check(formats)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GradvizError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    writer = FolderWriter(out_dir, keep)
    if keep is None:
        writer.write("trace.json", json_chunks(bounded_trace(trace)))
    missing = False
    problems: list[str] = []
    layouts = _Layouts(options.dpi)
    sources = read_sources(trace) if "html" in wanted else {}
    for position, call in enumerate(trace.backwards):
        if progress is not None:
            progress(position, len(trace.backwards))
        stem = f"backward-{call.index:03d}"
        dot = to_dot(call, options=options)
        drawn, drawn_options = dot, options
        final_svg: str | None = None
        for fmt in wanted:
            if fmt == "dot":
                writer.write(f"{stem}.dot", dot)
            elif fmt == "json":
                writer.write(f"{stem}.json", call_to_json(call))
            elif missing and fmt in _DRAWN:
                writer.write(f"{stem}.dot", dot)
            elif missing:
                writer.write(f"{stem}.html", _no_drawing(call, options, sources, trace.ledger))
            else:
                while True:
                    try:
                        if fmt in ("svg", "html"):
                            final_svg = final_svg or layouts.run(drawn, "svg").decode("utf-8")
                        if fmt == "html":
                            page = to_html(
                                call,
                                final_svg,
                                options=drawn_options,
                                others=_others(call, drawn_options, layouts),
                                sources=sources,
                                ledger=trace.ledger,
                            )
                            writer.write(f"{stem}.html", page)
                        elif fmt == "svg" and final_svg is not None:
                            writer.write(f"{stem}.svg", final_svg)
                        else:
                            writer.write(f"{stem}.{fmt}", layouts.run(drawn, fmt))
                    except LayoutEngineMissing:
                        missing = True
                        writer.write(f"{stem}.dot", dot)
                        if fmt == "html":
                            writer.write(f"{stem}.html", _no_drawing(call, options, sources, trace.ledger))
                    except WriteFailed:
                        raise
                    except LayoutTimedOut as exc:
                        cheaper = _cheaper(call, drawn_options)
                        writer.write(f"{stem}.dot", dot)
                        if cheaper is not None:
                            problems.append(f"{stem}.{fmt}: {exc}; drew the collapsed view instead")
                            drawn, drawn_options = to_dot(call, options=cheaper), cheaper
                            continue
                        problems.append(f"{stem}.{fmt}: {exc}; wrote DOT instead")
                        if fmt == "html":
                            writer.write(f"{stem}.html", _no_drawing(call, options, sources, trace.ledger))
                    except GradvizError as exc:
                        problems.append(f"{stem}.{fmt}: {exc}; wrote DOT instead")
                        writer.write(f"{stem}.dot", dot)
                        if fmt == "html":
                            writer.write(f"{stem}.html", _no_drawing(call, options, sources, trace.ledger))
                    break
    missing = _write_ledger(trace, writer, layouts, missing, problems, "svg" in wanted)
    if missing:
        raise LayoutSkipped(f"no layout engine: wrote DOT instead; {MISSING_HINT}", writer.written)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise OutputIncomplete(f"{problems[0]}{more}", writer.written)
    return writer.written
