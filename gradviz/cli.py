"""The ``gradviz`` command: ``trace``, ``render``, ``tui`` and ``demo``.

One small class per subcommand. Only ``trace`` and ``demo`` import torch (lazily), so re-rendering or
exploring a saved trace.json starts fast and works without torch.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from gradviz.errors import GradvizError, UsageError

if TYPE_CHECKING:
    from gradviz.capture.script import ExceptionNoter
    from gradviz.model import Trace

DISTRIBUTION = "torch-gradviz"
FORMATS = ("svg", "dot", "json", "html", "png", "pdf")
DEFAULT_OUT = "gradviz-out"

#: Runs the user's code under a tracer and returns its exit status.
Runner = Callable[["ExceptionNoter"], int]


class ParserError(UsageError):
    """A command line argparse rejected; the message already names the help to try."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and never exit the process by themselves."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage: `main` prints one line and returns 2.

        Args:
            message: What argparse found wrong.

        Raises:
            ParserError: Always.
        """
        raise ParserError(f"{message} (try '{self.prog} --help')")


def version() -> str:
    """The version line, read from the installed distribution's metadata.

    Returns:
        ``"gradviz X.Y.Z (torch-gradviz)"``.
    """
    try:
        number = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        number = "unknown"
    return f"gradviz {number} ({DISTRIBUTION})"


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


def load_trace(path: str) -> Trace:
    """Read a saved trace.json.

    Args:
        path: Its path.

    Returns:
        The trace.

    Raises:
        TraceFileError: When it is missing, unreadable, not JSON or of another schema.
    """
    from gradviz.errors import TraceFileError
    from gradviz.render.json import from_json

    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise TraceFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return from_json(text)


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
        The files written (empty when writing failed).
    """
    try:
        from gradviz.output import OutputIncomplete
        from gradviz.output import write_outputs as write
        from gradviz.render.style import RenderOptions

        return write(trace, out_dir, formats, options=RenderOptions(overlays=overlays))
    except OutputIncomplete as exc:
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
        options: The parsed ``trace`` options (format, max_backward, no_overlays, quiet, tui).
        script: The script's name for the trace.
        root: The folder that locations are shown relative to.
        out_dir: Where the outputs go (already checked writable).

    Returns:
        The script's exit status, whatever happens to the outputs.
    """
    try:
        from gradviz.capture.session import Tracer

        tracer = Tracer(max_backward=options.max_backward, script=script, source_root=root)
    except Exception as exc:  # a broken tracer must not stop the user's script from running
        say(f"could not start tracing, running untraced: {type(exc).__name__}: {exc}")
        return runner(_Untraced())
    with tracer:
        status = runner(tracer)
    try:
        trace = tracer.result()
    except Exception as exc:
        say(f"could not collect the trace: {type(exc).__name__}: {exc}")
        return status
    written = write_outputs(trace, out_dir, options.format, overlays=not options.no_overlays)
    if not options.quiet:
        report(trace, written, out_dir)
    if options.tui:
        open_tui(trace)
    return status


STEP_FORMATS = ("svg", "dot", "png", "pdf")


def write_step(
    trace: Trace, out_dir: Path, formats: Sequence[str], step: int, *, overlays: bool
) -> list[Path]:
    """Write each captured call as it stood after backward step `step`.

    Args:
        trace: The trace.
        out_dir: Where to write ``backward-NNN-step-K.<fmt>``.
        formats: Formats among `STEP_FORMATS`.
        step: The step to show.
        overlays: Whether drawings show what autograd did not record.

    Returns:
        The files written.

    Raises:
        UsageError: For a format that has no per-step drawing.
        LayoutEngineMissing: When svg/png/pdf is asked for and no layout engine runs.
    """
    from gradviz.render.dot import to_dot
    from gradviz.render.style import RenderOptions
    from gradviz.render.svg import run_layout

    unsupported = [fmt for fmt in formats if fmt not in STEP_FORMATS]
    if unsupported:
        raise UsageError(f"--step draws {', '.join(STEP_FORMATS)}, not {', '.join(unsupported)}")
    options = RenderOptions(overlays=overlays)
    written = []
    for call in trace.backwards:
        dot = to_dot(call, step=step, options=options)
        for fmt in formats:
            data = dot.encode() if fmt == "dot" else run_layout(dot, fmt)
            path = out_dir / f"backward-{call.index:03d}-step-{step}.{fmt}"
            path.write_bytes(data)
            written.append(path)
    return written


class _Untraced:
    """Stands in for a Tracer that could not be started."""

    def note_exception(self, exc: BaseException) -> None:
        """Nothing to explain without a trace."""


class Command:
    """A subcommand: its name, its options, and what it does."""

    name = ""
    help = ""
    epilog: str | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the subcommand's options."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work and return the exit status."""
        raise NotImplementedError


def add_output_options(parser: argparse.ArgumentParser, out_default: str, default: str = "svg") -> None:
    """The ``--out`` and ``--format`` options that several subcommands share."""
    parser.add_argument("--out", metavar="DIR", help=f"folder for the outputs (default: {out_default})")
    parser.add_argument(
        "--format",
        type=parse_formats,
        default=(default,),
        metavar="FMT[,FMT...]",
        help=f"per-call formats among {','.join(FORMATS)} (default: {default}); trace.json is always written",
    )


class TraceCommand(Command):
    """``gradviz trace [OPTIONS] SCRIPT [ARGS...]`` / ``gradviz trace -m MODULE [ARGS...]``."""

    name = "trace"
    help = "run a script under gradviz and write what autograd did"
    epilog = """\
everything after SCRIPT goes to the script, as with python SCRIPT ARGS.
examples:
  gradviz trace examples/01_autograd_basics.py
  gradviz trace --max-backward all --format svg,html train.py --epochs 1
  gradviz trace -m mypackage.train --lr 0.1
exit status: the script's own (sys.exit code; 1 after an uncaught exception)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the trace options; everything after SCRIPT belongs to the script."""
        add_output_options(parser, f"{DEFAULT_OUT}/<script name>")
        parser.add_argument(
            "--max-backward",
            type=parse_max_backward,
            default=3,
            metavar="N|all",
            help="capture the first N backward/grad calls in full; count the rest (default: 3)",
        )
        parser.add_argument("--no-overlays", action="store_true", help="leave no_grad/detach/.data notes out")
        parser.add_argument("--tui", action="store_true", help="open the TUI on the trace afterwards")
        parser.add_argument("--quiet", action="store_true", help="print no summary on stderr")
        parser.add_argument(
            "-m", dest="module", action="store_true", help="run SCRIPT as a module, like python -m"
        )
        parser.add_argument("script", metavar="SCRIPT", help="the Python script (or, with -m, the module)")
        parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments")

    def run(self, args: argparse.Namespace) -> int:
        """Check the script and the output folder, then run the script traced."""
        from gradviz.capture.script import execute, load_script, run_module

        if args.module:
            stem, root = args.script, os.getcwd()
            out_dir = writable_folder(args.out or os.path.join(DEFAULT_OUT, stem))

            def runner(tracer: ExceptionNoter) -> int:
                return run_module(args.script, args.args, tracer)

            return traced_run(runner, args, args.script, root, out_dir)
        script = load_script(args.script)
        out_dir = writable_folder(args.out or os.path.join(DEFAULT_OUT, Path(args.script).stem))

        def run_file(tracer: ExceptionNoter) -> int:
            return execute(script, args.args, tracer)

        return traced_run(run_file, args, args.script, os.path.dirname(script.path), out_dir)


class RenderCommand(Command):
    """``gradviz render TRACE.json``: draw a saved trace again, without torch."""

    name = "render"
    help = "re-render a saved trace.json"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the render options."""
        parser.add_argument("trace", metavar="TRACE.json", help="a trace written by gradviz trace")
        add_output_options(parser, "the trace's folder")
        parser.add_argument("--step", type=int, metavar="K", help="draw the state after backward step K")
        parser.add_argument("--no-overlays", action="store_true", help="leave no_grad/detach/.data notes out")

    def run(self, args: argparse.Namespace) -> int:
        """Load the trace and write the requested drawings of every captured call."""
        trace = load_trace(args.trace)
        out_dir = writable_folder(args.out or str(Path(args.trace).parent))
        if args.step is None:
            written = write_outputs(trace, out_dir, args.format, overlays=not args.no_overlays)
        else:
            written = write_step(trace, out_dir, args.format, args.step, overlays=not args.no_overlays)
        for path in written:
            print(path)
        return 0 if written else 1


class TuiCommand(Command):
    """``gradviz tui TRACE.json``: explore a saved trace, without torch."""

    name = "tui"
    help = "open a saved trace.json in the terminal UI"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the tui options."""
        parser.add_argument("trace", metavar="TRACE.json", help="a trace written by gradviz trace")
        parser.add_argument("--call", type=int, default=1, metavar="N", help="start on backward call N")

    def run(self, args: argparse.Namespace) -> int:
        """Load the trace and open it."""
        return open_tui(load_trace(args.trace), call=args.call)


class DemoCommand(Command):
    """``gradviz demo``: trace the built-in tutorial example."""

    name = "demo"
    help = "trace a built-in example and write its SVGs"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the demo options."""
        parser.add_argument(
            "--out", metavar="DIR", help=f"folder for the outputs (default: {DEFAULT_OUT}/demo)"
        )
        parser.add_argument("--tui", action="store_true", help="open the TUI on the demo's trace")

    def run(self, args: argparse.Namespace) -> int:
        """Write the demo script into the output folder, trace it, and list what was written."""
        from gradviz.capture.script import execute, load_script
        from gradviz.demo import write_demo

        out_dir = writable_folder(args.out or os.path.join(DEFAULT_OUT, "demo"))
        script = load_script(str(write_demo(out_dir)))
        options = argparse.Namespace(
            format=("svg",), max_backward=None, no_overlays=False, quiet=False, tui=args.tui
        )

        def runner(tracer: ExceptionNoter) -> int:
            return execute(script, [], tracer)

        status = traced_run(runner, options, "demo.py", str(out_dir.resolve()), out_dir)
        for path in sorted(out_dir.iterdir()):
            if path.suffix in (".svg", ".json"):
                print(path)
        return status


COMMANDS: tuple[Command, ...] = (TraceCommand(), RenderCommand(), TuiCommand(), DemoCommand())


def build_parser() -> Parser:
    """The ``gradviz`` parser with one subparser per command.

    Returns:
        The parser; its ``command`` attribute names the chosen `Command`.
    """
    parser = Parser(prog="gradviz", description="See what PyTorch's autograd does.")
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="name", required=True)
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradviz`` command line.

    Args:
        argv: The arguments after ``gradviz`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: the traced script's for ``trace``; 2 for bad usage; 1 for an unreadable trace.
    """
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(list(argv) if argv is not None else None)
        if extras:
            unknown = " ".join(extras)
            raise ParserError(f"unrecognized arguments: {unknown} (try 'gradviz {args.name} --help')")
        command: Command = args.command
        return command.run(args)
    except SystemExit as exc:  # --help and --version finish through argparse's exit
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        say(str(exc))
        return 2
    except GradvizError as exc:
        say(str(exc))
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
