"""Anomaly mode's "Traceback of forward call" without gradviz's frames, as a plain run prints it.

Under ``torch.autograd.detect_anomaly()`` every Node keeps the Python stack of the forward op that made
it, and an error in its backward prints that stack. Torch takes it from ``torch.fx.traceback.format_stack``,
looked up at each op, so under tracing the stack would open with gradviz's command line (``runpy``, the
cli, the script runner) and pass through gradviz's torch function mode. While installed, a wrapper
leaves those frames out (the same ones an uncaught exception's traceback leaves out); with fx's node meta
preserved (``torch.fx.traceback.preserve_node_meta``), torch's own function answers, unchanged.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import torch.fx.traceback as fx_traceback

from gradviz.capture.location import GRADVIZ_DIR, is_runner_frame, tracer_frames

_installed = 0
_original: Any = None


def install() -> None:
    """Start leaving gradviz's frames out of forward stacks (nests: each call needs an `uninstall`)."""
    global _installed, _original
    _installed += 1
    if _installed > 1:
        return
    _original = fx_traceback.format_stack
    fx_traceback.format_stack = format_stack


def uninstall() -> None:
    """Undo `install` (the last one puts torch's function back, unless someone replaced ours since)."""
    global _installed
    if _installed == 0:
        return
    _installed -= 1
    if _installed == 0 and fx_traceback.format_stack is format_stack:
        fx_traceback.format_stack = _original


def format_stack() -> list[str]:
    """The caller's stack as ``traceback.format_list`` lines, outermost first, without gradviz's frames.

    Returns:
        What ``torch.fx.traceback.format_stack`` returns in a plain run of the same code.
    """
    original = _original
    if original is not None and fx_traceback.has_preserved_node_meta():
        return list(original())
    stack = traceback.extract_stack(sys._getframe(1))
    try:
        frames = plain_stack(stack)
    except Exception:  # a fault in gradviz: the stack is still given, as it is
        frames = list(stack)
    return traceback.format_list(frames)


def plain_stack(stack: traceback.StackSummary) -> list[traceback.FrameSummary]:
    """The frames a plain run would have, outermost first.

    Args:
        stack: The frames now, outermost first.

    Returns:
        The stack without gradviz's runner at its start (``python -m gradviz trace``: runpy, the cli,
        the script runner) and without gradviz's frames and torch's hand-over to its mode inside.
    """
    names = [frame.filename for frame in stack]
    start = 0
    while start < len(names) and is_runner_frame(names[start]):
        start += 1
    if not any(name.startswith(GRADVIZ_DIR) for name in names[:start]):
        start = 0  # gradviz started from the user's own code (the API): their outer frames are theirs
    hidden = tracer_frames(names)
    return [frame for i, frame in enumerate(stack) if i >= start and i not in hidden]
