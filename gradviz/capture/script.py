"""Run a user's script or module as ``__main__``, the way ``python SCRIPT ARGS`` would.

The script sees ``sys.argv == [SCRIPT, *ARGS]``, ``sys.path[0]`` set to its folder and an absolute
``__file__``; its exit status comes back as an int, and an uncaught exception is printed as Python
prints it, starting at the script's own frame.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import os
import runpy
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from gradviz.capture.location import is_runner_frame, tracer_frames
from gradviz.errors import UsageError

#: Exit status of a run stopped by Ctrl-C, as a shell reports it (128 + SIGINT).
INTERRUPTED = 130


class ExceptionNoter(Protocol):
    """The part of a Tracer the runner needs: a place to report the script's exception."""

    def note_exception(self, exc: BaseException) -> Any:
        """Record an uncaught exception (autograd errors get explained)."""


@dataclass(frozen=True, slots=True)
class Script:
    """A script file that was found, read and compiled.

    Attributes:
        given: The path as the user typed it (what ``sys.argv[0]`` shows).
        path: Its absolute path (what ``__file__`` and tracebacks show).
        folder: The folder put first on ``sys.path`` (symlinks resolved, as Python does).
        code: The compiled module code.
    """

    given: str
    path: str
    folder: str
    code: types.CodeType


def load_script(path: str) -> Script:
    """Find, read and compile a script, with one clear line for anything that stops it running.

    Args:
        path: The script's path as the user typed it.

    Returns:
        The compiled script.

    Raises:
        UsageError: When the file is missing, is a directory, cannot be read, is not Python source,
            or has a syntax error (the message gives the line).
    """
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a Python script")
    absolute = os.path.abspath(path)
    try:
        with open(absolute, "rb") as handle:
            source = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    name = os.path.basename(path)
    try:
        # dont_inherit: the script must not pick up this module's `from __future__` flags.
        code = compile(source, absolute, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise UsageError(_compile_problem(name, source, exc)) from None
    folder = os.path.dirname(os.path.realpath(absolute))
    return Script(given=path, path=absolute, folder=folder, code=code)


def _compile_problem(name: str, source: bytes, exc: SyntaxError | ValueError) -> str:
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    if b"\x00" in source or "unicode error" in detail or "null bytes" in detail:
        return f"{name} is not a Python script (it is not readable as Python source text)"
    if not isinstance(exc, SyntaxError):
        return f"{name} is not a Python script ({detail})"
    kind = type(exc).__name__
    return f"{kind} in {name} line {exc.lineno}: {detail}"


def run_script(path: str, args: Sequence[str], tracer: ExceptionNoter) -> int:
    """Run a script file as ``__main__`` and return its exit status.

    Args:
        path: The script, as the user typed it.
        args: The script's own arguments.
        tracer: Told about an uncaught exception before its traceback is printed.

    Returns:
        The exit status ``python SCRIPT ARGS`` would give: the ``sys.exit`` code, 1 after an
        uncaught exception, 130 after Ctrl-C.

    Raises:
        UsageError: When the script cannot be run at all (see `load_script`).
    """
    return execute(load_script(path), args, tracer)


def execute(script: Script, args: Sequence[str], tracer: ExceptionNoter) -> int:
    """Run an already loaded script as ``__main__`` and return its exit status.

    Args:
        script: What `load_script` returned.
        args: The script's own arguments.
        tracer: Told about an uncaught exception before its traceback is printed.

    Returns:
        The script's exit status, as for `run_script`.
    """
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=script.path,
        __cached__=None,
        # Python gives __main__ the builtins module itself; other modules see its dict.
        __builtins__=builtins,
        __loader__=importlib.machinery.SourceFileLoader("__main__", script.path),
    )

    def body() -> None:
        exec(script.code, module.__dict__)

    with _main_module(module), _process_state([script.given, *args], script.folder):
        return _guarded(body, tracer)


def run_module(name: str, args: Sequence[str], tracer: ExceptionNoter) -> int:
    """Run a module as ``__main__``, like ``python -m NAME ARGS``, and return its exit status.

    Args:
        name: The dotted module name.
        args: The module's own arguments.
        tracer: Told about an uncaught exception before its traceback is printed.

    Returns:
        The exit status ``python -m NAME ARGS`` would give.

    Raises:
        UsageError: When no such module can be found.
    """
    with _process_state([name, *args], os.getcwd()):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot find module {name}: {exc}") from None
        if spec is None:
            raise UsageError(f"no module named {name}")

        def body() -> None:
            runpy.run_module(name, {"__builtins__": builtins}, run_name="__main__", alter_sys=True)

        return _guarded(body, tracer)


def _guarded(body: Callable[[], None], tracer: ExceptionNoter) -> int:
    """Run the user's code and turn how it ended into an exit status."""
    try:
        body()
    except SystemExit as exc:
        return _exit_status(exc.code)
    except KeyboardInterrupt as exc:
        _print_traceback(exc)
        return INTERRUPTED
    except BaseException as exc:
        # Explaining is a bonus: a failure in it must not hide the user's own traceback.
        with suppress(Exception):
            tracer.note_exception(exc)
        _print_traceback(exc)
        return 1
    finally:
        _flush()
    return 0


def _exit_status(code: object) -> int:
    """What the process exit status would be for ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    print(code, file=sys.stderr)
    return 1


def _print_traceback(exc: BaseException) -> None:
    """Print the traceback as Python would at top level, from the script's first frame on."""
    tb = exc.__traceback__
    while tb is not None and is_runner_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    tb = _without_tracer_frames(tb)
    chained = exc.__cause__ or exc.__context__
    while chained is not None:
        chained.__traceback__ = _without_tracer_frames(chained.__traceback__)
        chained = chained.__cause__ or chained.__context__
    _flush()
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)
    sys.stderr.flush()


def _without_tracer_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Unlink the frames that tracing added, so the traceback reads as under plain python.

    A torch function mode routes calls such as ``Tensor.backward`` through ``handle_torch_function``
    and gradviz's mode, and the Tracer wraps the engine: none of those frames exist without gradviz.
    """
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    hidden = tracer_frames([entry.tb_frame.f_code.co_filename for entry in entries])
    kept = [entry for i, entry in enumerate(entries) if i not in hidden]
    for entry, following in zip(kept, [*kept[1:], None], strict=True):
        entry.tb_next = following
    return kept[0] if kept else None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            continue


@contextmanager
def _main_module(module: types.ModuleType) -> Iterator[None]:
    """Make `module` the ``__main__`` module while the script runs (pickle and friends look there)."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("__main__", None)
        else:
            sys.modules["__main__"] = saved


@contextmanager
def _process_state(argv: list[str], folder: str) -> Iterator[None]:
    """Give the script its own ``sys.argv`` and ``sys.path[0]``, and restore both afterwards."""
    saved_argv = sys.argv[:]
    saved_path = sys.path[:]
    sys.argv = argv
    if sys.path:
        sys.path[0] = folder
    else:
        sys.path.append(folder)
    try:
        yield
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
