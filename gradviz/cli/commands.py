"""One small class per subcommand: its name, its options, and what it does."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from gradviz.cli.options import (
    DEFAULT_OUT,
    add_output_options,
    folder_for_run,
    load_trace,
    parse_max_backward,
    rank_folder,
    writable_folder,
)
from gradviz.cli.running import open_tui, render_saved, traced_run
from gradviz.errors import UsageError
from gradviz.render.state import StepOutOfRange

if TYPE_CHECKING:
    from gradviz.capture.script import ExceptionNoter


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
        parser.add_argument(
            "--no-timeline",
            action="store_true",
            help="record backward only, not the forward ops: near-zero cost on long loops, but no source "
            "lines on nodes and no no_grad/detach/.data findings",
        )
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

            def runner(tracer: ExceptionNoter) -> int:
                return run_module(args.script, args.args, tracer)

            # The module is looked up once the run starts: a name that finds none leaves no folder behind.
            with folder_for_run(rank_folder(args.out or os.path.join(DEFAULT_OUT, stem))) as out_dir:
                return traced_run(runner, args, args.script, root, out_dir)
        script = load_script(args.script)
        out_dir = writable_folder(rank_folder(args.out or os.path.join(DEFAULT_OUT, Path(args.script).stem)))

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
        add_output_options(
            parser, "the trace's folder; the trace itself is never rewritten", trace_json=False
        )
        parser.add_argument("--step", type=int, metavar="K", help="draw the state after backward step K")
        parser.add_argument("--no-overlays", action="store_true", help="leave no_grad/detach/.data notes out")

    def run(self, args: argparse.Namespace) -> int:
        """Load the trace and write the requested drawings of every captured call beside it (or to --out)."""
        trace = load_trace(args.trace)
        out_dir = writable_folder(args.out or str(Path(args.trace).parent))
        try:
            return render_saved(trace, Path(args.trace), out_dir, args)
        except StepOutOfRange as exc:  # a bad --step value is bad usage, like any bad option value
            raise UsageError(f"{exc} (try 'gradviz render --help')") from None


class TuiCommand(Command):
    """``gradviz tui TRACE.json``: explore a saved trace, without torch."""

    name = "tui"
    help = "open a saved trace.json in the terminal UI"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the tui options."""
        parser.add_argument("trace", metavar="TRACE.json", help="a trace written by gradviz trace")
        parser.add_argument("--call", type=int, metavar="N", help="start on captured backward call N")

    def run(self, args: argparse.Namespace) -> int:
        """Load the trace, check --call against its captured calls, and open it."""
        trace = load_trace(args.trace)
        captured = [backward.index for backward in trace.backwards]
        if args.call is not None and args.call not in captured:
            calls = _captured_calls(trace.backward_calls, captured)
            raise UsageError(f"--call {args.call}: {calls} (try 'gradviz tui --help')")
        # `gradviz demo` writes its script beside trace.json: look there for the source pane too.
        folder = Path(args.trace).parent
        beside = trace.script is not None and (folder / Path(trace.script).name).is_file()
        call = args.call if args.call is not None else 1
        return open_tui(trace, call=call, source_root=str(folder) if beside else None)


def _captured_calls(seen: int, captured: list[int]) -> str:
    """Which calls ``--call`` may name, for the one-line error."""
    if not captured:
        return f"no backward call was captured in this trace ({seen} seen)"
    listed = ", ".join(str(index) for index in captured[:10]) + (", ..." if len(captured) > 10 else "")
    return f"the trace has {seen} backward call{'s' if seen != 1 else ''}; captured: {listed}"


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
            format=("svg",),
            max_backward=None,
            no_overlays=False,
            no_timeline=False,
            quiet=False,
            tui=args.tui,
        )

        def runner(tracer: ExceptionNoter) -> int:
            return execute(script, [], tracer)

        status = traced_run(runner, options, "demo.py", str(out_dir.resolve()), out_dir)
        for path in sorted(out_dir.iterdir()):
            if path.suffix in (".svg", ".json"):
                print(path)
        return status


COMMANDS: tuple[Command, ...] = (TraceCommand(), RenderCommand(), TuiCommand(), DemoCommand())
