"""Torch's warnings at the line a plain run shows them, not at gradviz's frame that ran the op.

While gradviz's torch function mode is active, the user's op runs one call deeper, inside gradviz: a
warning torch raises there (``warnings.warn`` with a stacklevel, or a C++ ``TORCH_WARN``, which names the
innermost Python frame) would name gradviz's file, and Python's once-per-location registry would then
hide a second warning of the same text from another line of the user's. Nothing is added per op: one
warnings filter makes warnings named at gradviz's modules always reach ``warnings._showwarnmsg``, which
is wrapped to re-issue a warning from the frame a plain run would have named (at the same stacklevel,
gradviz's frames and torch's hand-over of the op to the mode left out), through the user's own filters
and registry. Warnings from gradviz's own tensor work are dropped: a plain run does not make them.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType
from typing import Any

from gradviz.capture.isolation import in_isolation
from gradviz.capture.location import DISPATCH_FILE, GRADVIZ_DIR

#: Warnings named at gradviz's modules are always shown to the wrapper (never registered as seen there).
_FILTER: tuple[Any, ...] = ("always", None, Warning, None, 0)
_MODULES = r"gradviz\."

_installed = 0
_original: Any = None
_reissuing = False


def install() -> None:
    """Start showing torch's warnings at the plain run's line (nests: each call needs an `uninstall`)."""
    global _installed, _original, _FILTER
    _installed += 1
    if _installed > 1:
        return
    warnings.filterwarnings("always", module=_MODULES)
    _FILTER = warnings.filters[0]
    _original = warnings._showwarnmsg  # type: ignore[attr-defined]
    warnings._showwarnmsg = _show  # type: ignore[attr-defined]


def uninstall() -> None:
    """Undo `install` (the last one puts Python's own warning display back)."""
    global _installed
    if _installed == 0:
        return
    _installed -= 1
    if _installed > 0:
        return
    if warnings._showwarnmsg is _show:  # type: ignore[attr-defined]
        warnings._showwarnmsg = _original  # type: ignore[attr-defined]
    filters: Any = warnings.filters  # typeshed calls it a Sequence; it is Python's list
    if _FILTER in filters:
        filters.remove(_FILTER)
        warnings._filters_mutated()  # type: ignore[attr-defined]


def _show(message: warnings.WarningMessage) -> None:
    global _reissuing
    if _reissuing:
        _original(message)
        return
    ours = message.filename.startswith(GRADVIZ_DIR)
    if ours and in_isolation():
        return  # torch warned about gradviz's own summary or Jacobian work, not the user's
    frame = plain_frame(sys._getframe(1), message.filename, message.lineno)
    if frame is None or (frame.f_code.co_filename == message.filename and frame.f_lineno == message.lineno):
        _original(message)
        return
    module_globals = frame.f_globals
    _reissuing = True
    try:
        warnings.warn_explicit(
            message.message,
            message.category,
            frame.f_code.co_filename,
            frame.f_lineno,
            module=module_globals.get("__name__"),
            registry=module_globals.setdefault("__warningregistry__", {}),
            module_globals=module_globals,
            source=message.source,
        )
    finally:
        _reissuing = False


def plain_frame(site: FrameType | None, filename: str, lineno: int) -> FrameType | None:
    """The frame a plain run's warning would name, given the traced stack.

    Args:
        site: The frame that issued the warning (stacklevel 1).
        filename: The file the warning named (one of gradviz's).
        lineno: The line it named.

    Returns:
        The frame at the same stacklevel once gradviz's frames, and torch's hand-over of the op to
        the mode (``handle_torch_function`` and the function that called it), are left out; None when
        the named frame is not on the stack.
    """
    stack: list[FrameType] = []
    frame = site
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    level = next(
        (
            index
            for index, candidate in enumerate(stack)
            if candidate.f_code.co_filename == filename and candidate.f_lineno == lineno
        ),
        None,
    )
    if level is None:
        return None
    names = [candidate.f_code.co_filename for candidate in stack]
    hidden = {index for index, name in enumerate(names) if name.startswith(GRADVIZ_DIR)}
    for index, name in enumerate(names):
        if name.endswith(DISPATCH_FILE) and index - 1 in hidden:
            hidden.update({index, index + 1})  # the dispatcher, and the torch function that called it
    plain = [candidate for index, candidate in enumerate(stack) if index not in hidden]
    return plain[level] if level < len(plain) else (plain[-1] if plain else None)
