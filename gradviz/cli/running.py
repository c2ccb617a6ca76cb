"""Run user code under a Tracer and deal with what it recorded: write, summarise, draw, open.

Everything here degrades to one line on stderr: once the user's script has run, its exit status is
what ``gradviz trace`` returns, whatever happens to the outputs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gradviz.cli.progress import DrawingProgress
from gradviz.errors import GradvizError, UsageError

if TYPE_CHECKING:
    from gradviz.capture.script import ExceptionNoter
    from gradviz.model import Trace
    from gradviz.render.style import RenderOptions

#: Runs the user's code under a tracer and returns its exit status.
Runner = Callable[["ExceptionNoter"], int]


def say(message: str) -> None:
    """Print one gradviz line on stderr (stdout belongs to the user's script)."""
    print(f"gradviz: {message}", file=sys.stderr, flush=True)


def render_options(options: argparse.Namespace) -> RenderOptions:
    """What the drawings show, from the parsed ``--no-overlays``, ``--depth``, ``--full``, ``--no-legend``,
    ``--rankdir``, ``--dpi`` and ``--theme``."""
    from gradviz.render.style import RenderOptions

    return RenderOptions(
        overlays=not getattr(options, "no_overlays", False),
        depth=getattr(options, "depth", None),
        full=getattr(options, "full", False),
        legend=not getattr(options, "no_legend", False),
        rankdir=getattr(options, "rankdir", "TB"),
        dpi=getattr(options, "dpi", None),
        theme=getattr(options, "theme", "default"),
    )


#: Above this many captured calls, writing them all is announced with its size.
MANY_CALLS = 50
#: Rough bytes per drawn node of an SVG (measured on graphviz-pure output), for that announcement.
_BYTES_PER_NODE = {"svg": 1400, "html": 1500, "dot": 600, "json": 900, "png": 3000, "pdf": 1500}


def announce(trace: Trace, formats: Sequence[str], options: RenderOptions) -> None:
    """Say in one line each: which calls are drawn collapsed, and how much a long write will be.

    Args:
        trace: What will be written.
        formats: The per-call formats.
        options: What the drawings show.
    """
    from gradviz.render.collapse import MAX_BOXES
    from gradviz.render.dot import is_collapsed

    collapsed = [call for call in trace.backwards if is_collapsed(call.graph, options)]
    if collapsed and options.depth is None:
        biggest = max(len(call.graph.nodes) for call in collapsed)
        which = f"call #{collapsed[0].index}" if len(collapsed) == 1 else f"{len(collapsed)} calls"
        say(f"{which} with up to {biggest:,} nodes drawn collapsed; --full draws every node")
    if len(trace.backwards) > MANY_CALLS:
        drawn = sum(min(len(call.graph.nodes), MAX_BOXES * 4) for call in trace.backwards)
        size = sum(_BYTES_PER_NODE.get(fmt, 1500) for fmt in formats) * drawn
        files = len(trace.backwards) * len(formats) + 1
        megabytes = "under 1 MB" if size < 1e6 else f"{size / 1e6:,.0f} MB"
        say(
            f"writing {len(trace.backwards):,} captured calls: about {files:,} files and "
            f"{megabytes} plus trace.json (--max-backward N keeps fewer)"
        )


def write_outputs(trace: Trace, out_dir: Path, formats: Sequence[str], options: RenderOptions) -> list[Path]:
    """Write trace.json and the per-call files, turning any failure into one line on stderr.

    Args:
        trace: What to write.
        out_dir: Where.
        formats: Which formats for each captured call.
        options: What the drawings show.

    Returns:
        The files written (those written before a failure, when one happened).
    """
    bar = DrawingProgress()
    try:
        from gradviz.output import OutputIncomplete, WriteFailed
        from gradviz.output import write_outputs as write

        announce(trace, formats, options)
        return write(trace, out_dir, formats, options=options, progress=bar)
    except (OutputIncomplete, WriteFailed) as exc:
        bar.close()
        say(str(exc))
        return exc.written
    except GradvizError as exc:
        bar.close()
        say(str(exc))
    except Exception as exc:  # a bug in writing must not change the script's outcome
        bar.close()
        say(f"could not write the outputs to {out_dir}: {type(exc).__name__}: {exc}")
    finally:
        bar.close()
    return []


def report(trace: Trace, written: Sequence[Path], out_dir: Path) -> None:
    """Print the summary on stderr; a failure in it becomes one line."""
    try:
        from gradviz.render.summary import summarize

        sys.stderr.write(summarize(trace, written, out_dir))
        sys.stderr.flush()
    except Exception as exc:
        say(f"could not summarise the trace: {type(exc).__name__}: {exc}")


def open_tui(trace: Trace, call: int = 1, source_root: str | None = None) -> int:
    """Open the TUI on a trace (imported here only: it is the slowest import gradviz has).

    ``source_root``: the folder the trace's locations are relative to, when it is not the script's own.
    """
    from gradviz.tui.app import run_tui

    if source_root is None:
        return run_tui(trace, call=call)
    return run_tui(trace, call=call, source_root=source_root)


def traced_run(runner: Runner, options: argparse.Namespace, script: str, root: str, out_dir: Path) -> int:
    """Run user code under a Tracer, then write, summarise and maybe open what it recorded.

    Args:
        runner: Runs the user's code and returns its exit status.
        options: The parsed ``trace`` options (format, max_backward, no_overlays, no_timeline, quiet, tui).
        script: The script's name for the trace.
        root: The folder that locations are shown relative to.
        out_dir: Where the outputs go (already checked writable).

    Returns:
        The script's exit status, whatever happens to the outputs.
    """
    try:
        from gradviz.capture.session import Tracer

        tracer = Tracer(
            max_backward=options.max_backward,
            record_forward=not options.no_timeline,
            script=script,
            source_root=root,
        )
        tracer.__enter__()
    except Exception as exc:  # a broken tracer must not stop the user's script from running
        say(f"could not start tracing, running untraced: {type(exc).__name__}: {exc}")
        return runner(_Untraced())
    try:
        status = runner(tracer)
    finally:
        try:
            tracer.__exit__(None, None, None)
        except Exception as exc:
            say(f"could not stop tracing cleanly: {type(exc).__name__}: {exc}")
    try:
        trace = tracer.result()
    except Exception as exc:
        say(f"could not collect the trace: {type(exc).__name__}: {exc}")
        return status
    written = write_outputs(trace, out_dir, options.format, render_options(options))
    if not options.quiet:
        report(trace, written, out_dir)
    if options.tui:
        try:
            # The demo's script lives in its output folder, not beside the name it is traced under.
            elsewhere = Path(root).resolve() != Path(script).resolve().parent
            open_tui(trace, source_root=root if elsewhere else None)
        except Exception as exc:
            say(f"could not open the TUI: {type(exc).__name__}: {exc}")
    return status


STEP_FORMATS = ("svg", "dot", "png", "pdf")


def write_step(
    trace: Trace,
    out_dir: Path,
    formats: Sequence[str],
    step: int,
    *,
    options: RenderOptions,
    keep: Path | None = None,
) -> list[Path]:
    """Write each captured call as it stood after backward step `step`.

    Args:
        trace: The trace.
        out_dir: Where to write ``backward-NNN-step-K.<fmt>``.
        formats: Formats among `STEP_FORMATS`.
        step: The step to show.
        options: What the drawings show.
        keep: A file no output may replace (the trace being rendered).

    Returns:
        The files written.

    Raises:
        UsageError: For a format that has no per-step drawing.
        WriteFailed: A file cannot be written (the files written before it are listed).
        GradvizError: When the step is out of range or no layout engine runs (svg/png/pdf).
    """
    from gradviz.output import WriteFailed, write_file
    from gradviz.render.dot import to_dot
    from gradviz.render.svg import run_layout

    unsupported = [fmt for fmt in formats if fmt not in STEP_FORMATS]
    if unsupported:
        drawn, refused = ", ".join(STEP_FORMATS), ", ".join(unsupported)
        raise UsageError(f"--step draws {drawn}, not {refused} (try 'gradviz render --help')")
    written: list[Path] = []
    for call in trace.backwards:
        dot = to_dot(call, step=step, options=options)
        for fmt in formats:
            data = dot.encode() if fmt == "dot" else run_layout(dot, fmt, dpi=options.dpi)
            path = out_dir / f"backward-{call.index:03d}-step-{step}.{fmt}"
            try:
                write_file(path, data, keep=keep)
            except WriteFailed as exc:
                raise WriteFailed(str(exc), written) from None
            written.append(path)
    return written


def render_saved(trace: Trace, source: Path, out_dir: Path, options: argparse.Namespace) -> int:
    """Draw a saved trace again, never writing to the file it was read from.

    Args:
        trace: The trace read from `source`.
        source: The trace file (left untouched: trace.json is not rewritten).
        out_dir: Where the drawings go.
        options: The parsed ``render`` options (format, step, no_overlays, depth, full).

    Returns:
        0 when every file was written (or a drawing was replaced by DOT, said in one line); 1 when a
        file could not be written, after saying so in one line.
    """
    from gradviz.output import OutputIncomplete, WriteFailed
    from gradviz.output import write_outputs as write

    status = 0
    drawing = render_options(options)
    bar = DrawingProgress()
    try:
        announce(trace, options.format, drawing)
        if options.step is None:
            written = write(trace, out_dir, options.format, options=drawing, keep=source, progress=bar)
        else:
            written = write_step(trace, out_dir, options.format, options.step, options=drawing, keep=source)
    except OutputIncomplete as exc:
        say(str(exc))
        written = exc.written
    except WriteFailed as exc:
        say(str(exc))
        written, status = exc.written, 1
    finally:
        bar.close()
    for path in written:
        print(path)
    return status


class _Untraced:
    """Stands in for a Tracer that could not be started."""

    def note_exception(self, exc: BaseException) -> None:
        """Nothing to explain without a trace."""
