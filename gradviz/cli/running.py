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

from gradviz.errors import GradvizError, UsageError

if TYPE_CHECKING:
    from gradviz.capture.script import ExceptionNoter
    from gradviz.model import Trace

#: Runs the user's code under a tracer and returns its exit status.
Runner = Callable[["ExceptionNoter"], int]


def say(message: str) -> None:
    """Print one gradviz line on stderr (stdout belongs to the user's script)."""
    print(f"gradviz: {message}", file=sys.stderr, flush=True)


def write_outputs(trace: Trace, out_dir: Path, formats: Sequence[str], overlays: bool) -> list[Path]:
    """Write trace.json and the per-call files, turning any failure into one line on stderr.

    Args:
        trace: What to write.
        out_dir: Where.
        formats: Which formats for each captured call.
        overlays: Whether drawings show what autograd did not record.

    Returns:
        The files written (those written before a failure, when one happened).
    """
    try:
        from gradviz.output import OutputIncomplete, WriteFailed
        from gradviz.output import write_outputs as write
        from gradviz.render.style import RenderOptions

        return write(trace, out_dir, formats, options=RenderOptions(overlays=overlays))
    except (OutputIncomplete, WriteFailed) as exc:
        say(str(exc))
        return exc.written
    except GradvizError as exc:
        say(str(exc))
    except Exception as exc:  # a bug in writing must not change the script's outcome
        say(f"could not write the outputs to {out_dir}: {type(exc).__name__}: {exc}")
    return []


def report(trace: Trace, written: Sequence[Path], out_dir: Path) -> None:
    """Print the summary on stderr; a failure in it becomes one line."""
    try:
        from gradviz.render.summary import summarize

        sys.stderr.write(summarize(trace, written, out_dir))
        sys.stderr.flush()
    except Exception as exc:
        say(f"could not summarise the trace: {type(exc).__name__}: {exc}")


def open_tui(trace: Trace, call: int = 1) -> int:
    """Open the TUI on a trace (imported here only: it is the slowest import gradviz has)."""
    from gradviz.tui.app import run_tui

    return run_tui(trace, call=call)


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
    written = write_outputs(trace, out_dir, options.format, overlays=not options.no_overlays)
    if not options.quiet:
        report(trace, written, out_dir)
    if options.tui:
        try:
            open_tui(trace)
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
    overlays: bool,
    keep: Path | None = None,
) -> list[Path]:
    """Write each captured call as it stood after backward step `step`.

    Args:
        trace: The trace.
        out_dir: Where to write ``backward-NNN-step-K.<fmt>``.
        formats: Formats among `STEP_FORMATS`.
        step: The step to show.
        overlays: Whether drawings show what autograd did not record.
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
    from gradviz.render.style import RenderOptions
    from gradviz.render.svg import run_layout

    unsupported = [fmt for fmt in formats if fmt not in STEP_FORMATS]
    if unsupported:
        raise UsageError(f"--step draws {', '.join(STEP_FORMATS)}, not {', '.join(unsupported)}")
    options = RenderOptions(overlays=overlays)
    written: list[Path] = []
    for call in trace.backwards:
        dot = to_dot(call, step=step, options=options)
        for fmt in formats:
            data = dot.encode() if fmt == "dot" else run_layout(dot, fmt)
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
        options: The parsed ``render`` options (format, step, no_overlays).

    Returns:
        0 when every file was written (or a drawing was replaced by DOT, said in one line); 1 when a
        file could not be written, after saying so in one line.
    """
    from gradviz.output import OutputIncomplete, WriteFailed
    from gradviz.output import write_outputs as write
    from gradviz.render.style import RenderOptions

    status = 0
    try:
        if options.step is None:
            render_options = RenderOptions(overlays=not options.no_overlays)
            written = write(trace, out_dir, options.format, options=render_options, keep=source)
        else:
            written = write_step(
                trace, out_dir, options.format, options.step, overlays=not options.no_overlays, keep=source
            )
    except OutputIncomplete as exc:
        say(str(exc))
        written = exc.written
    except WriteFailed as exc:
        say(str(exc))
        written, status = exc.written, 1
    for path in written:
        print(path)
    return status


class _Untraced:
    """Stands in for a Tracer that could not be started."""

    def note_exception(self, exc: BaseException) -> None:
        """Nothing to explain without a trace."""
