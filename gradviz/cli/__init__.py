"""The ``gradviz`` command: ``trace``, ``render``, ``tui`` and ``demo``.

One small class per subcommand (`gradviz.cli.commands`). Only ``trace`` and ``demo`` import torch
(lazily), so re-rendering or exploring a saved trace.json starts fast and works without torch.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import NoReturn

from gradviz.cli.commands import COMMANDS, Command
from gradviz.cli.options import FORMATS, parse_formats, parse_max_backward
from gradviz.cli.running import say
from gradviz.errors import GradvizError, UsageError

__all__ = ["FORMATS", "Parser", "ParserError", "build_parser", "main", "parse_formats", "parse_max_backward"]

DISTRIBUTION = "torch-gradviz"


class ParserError(UsageError):
    """A command line argparse rejected; the message already names the help to try."""


#: What to say instead of argparse's "the following arguments are required: ...", by what is missing.
MISSING = {
    "COMMAND": "no command given: trace, render, tui or demo",
    "SCRIPT, ARGS": "no script given: gradviz trace [OPTIONS] SCRIPT [ARGS...], or -m MODULE",
    "TRACE.json": "no trace file given: the trace.json that gradviz trace wrote",
}
REQUIRED = "the following arguments are required: "


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and never exit the process by themselves."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing usage: `main` prints one line and returns 2.

        Args:
            message: What argparse found wrong.

        Raises:
            ParserError: Always.
        """
        if message.startswith(REQUIRED):
            message = MISSING.get(message.removeprefix(REQUIRED), message)
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
        arguments = list(argv) if argv is not None else sys.argv[1:]
        if arguments and arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version"):
            # argparse would only say the command is missing.
            raise ParserError(f"unrecognized arguments: {arguments[0]} (try 'gradviz --help')")
        args, extras = parser.parse_known_args(arguments)
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
