"""Run the layout engine as a child that never outlives gradviz.

The engine runs in its own process group, so that killing the group also ends whatever it started.
It is killed when its time limit passes, when gradviz exits (``atexit``), when gradviz is stopped by
SIGINT or SIGTERM while waiting for it, and on Linux when gradviz dies any other way (even SIGKILL):
the kernel sends it SIGKILL when its parent goes (``prctl(PR_SET_PDEATHSIG)``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType

__all__ = ["EngineTimedOut", "Finished", "live_children", "run_child"]

_PR_SET_PDEATHSIG = 1
_children: set[subprocess.Popen[bytes]] = set()
_lock = threading.Lock()


class EngineTimedOut(Exception):
    """The child ran past its time limit and was killed.

    Attributes:
        pid: The killed child's process id.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(f"process {pid} ran past its time limit")
        self.pid = pid


@dataclass(frozen=True, slots=True)
class Finished:
    """What a child that finished in time gave back.

    Attributes:
        returncode: Its exit status.
        stdout: What it wrote on stdout.
        stderr: What it wrote on stderr.
        pid: Its process id.
    """

    returncode: int
    stdout: bytes
    stderr: bytes
    pid: int


def _prctl() -> Callable[..., int] | None:
    """Linux's prctl, to have the child killed when gradviz dies; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        prctl: Callable[..., int] = ctypes.CDLL(name or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _child_setup() -> Callable[[], None] | None:
    """A preexec_fn: SIGTERM unblocked again in the child, and on Linux SIGKILL when gradviz dies."""
    mask = getattr(signal, "pthread_sigmask", None)
    prctl = _prctl()
    if mask is None and prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        if mask is not None:
            mask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # held back in gradviz while it forked
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent already died between fork and prctl
                os._exit(1)

    return hook


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group, then reap it."""
    if hasattr(os, "killpg"):  # POSIX: the engine leads its own process group
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        child.kill()
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        child.wait(timeout=5)
    for stream in (child.stdin, child.stdout, child.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _kill_all() -> None:
    with _lock:
        children = list(_children)
        _children.clear()
    for child in children:
        _kill(child)


atexit.register(_kill_all)


def live_children() -> tuple[int, ...]:
    """Process ids of the engine children running now (for tests and diagnostics)."""
    with _lock:
        return tuple(child.pid for child in _children)


class _Terminated(BaseException):
    """SIGTERM arrived while waiting for the child: unwind, kill it, then die of SIGTERM."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into an exception while waiting, when gradviz owns the handler (main thread, default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        # Delivered as _start unblocks it, the child is not yet run_child's to kill: it is in _children.
        _kill_all()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit(128 + signal.SIGTERM) from None  # only reached where SIGTERM is ignored
    finally:
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGTERM, previous)


def _start(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the engine in its own session, known to `_children` before a SIGTERM can interrupt.

    SIGTERM is held back while forking: delivered inside Popen, it would leave a started child that
    nothing kills.
    """
    mask = getattr(signal, "pthread_sigmask", None)
    held = mask(signal.SIG_BLOCK, {signal.SIGTERM}) if mask is not None else None
    try:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_child_setup(),
        )
        with _lock:
            _children.add(child)
    finally:
        if mask is not None and held is not None and signal.SIGTERM not in held:
            mask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return child


def run_child(argv: Sequence[str], data: bytes, *, timeout: float) -> Finished:
    """Run a program on `data` with a time limit; it is killed (with its group) whatever happens.

    Args:
        argv: The program and its arguments.
        data: What to write on its stdin.
        timeout: Seconds it may take.

    Returns:
        Its exit status and output.

    Raises:
        EngineTimedOut: It took longer than `timeout` (it is gone when this is raised).
        OSError: It could not be started.
    """
    with _sigterm_unwinds():
        child: subprocess.Popen[bytes] | None = None
        try:
            child = _start(argv)
            stdout, stderr = child.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            assert child is not None
            raise EngineTimedOut(child.pid) from None
        finally:
            if child is not None:
                with _lock:
                    _children.discard(child)
                if child.returncode is None:
                    _kill(child)
    return Finished(child.returncode, stdout, stderr, child.pid)
