"""Torch's warnings at the line a plain run shows them, not at gradviz's frame that ran the op.

While gradviz's torch function mode is active, the user's op runs a few calls deeper, inside gradviz: a
warning torch raises there (``warnings.warn`` with a stacklevel, or a C++ ``TORCH_WARN``, which names the
innermost Python frame) would name gradviz's file, and Python's once-per-location registry would then
hide a second warning of the same text from another line of the user's. Nothing is added per op and no
warnings filter is touched: ``warnings._showwarnmsg``, which Python calls for each warning it shows, is
wrapped. When the warning names a frame that a plain run would not have at that stacklevel (gradviz's
frames and torch's hand-over of the op to the mode left out), the wrapper takes back what the filter
recorded for that location and re-issues the warning from the plain run's frame, through the user's
own filters and registry. Warnings about gradviz's own tensor work are dropped: a plain run makes none.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType
from typing import Any

from gradviz.capture.isolation import in_isolation
from gradviz.capture.location import DISPATCH_FILE, GRADVIZ_DIR

_installed = 0
_original: Any = None
_reissuing = False


def install() -> None:
    """Start showing torch's warnings at the plain run's line (nests: each call needs an `uninstall`)."""
    global _installed, _original
    _installed += 1
    if _installed > 1:
        return
    _original = warnings._showwarnmsg  # type: ignore[attr-defined]
    warnings._showwarnmsg = _show  # type: ignore[attr-defined]


def uninstall() -> None:
    """Undo `install` (the last one puts Python's own warning display back)."""
    global _installed
    if _installed == 0:
        return
    _installed -= 1
    if _installed == 0 and warnings._showwarnmsg is _show:  # type: ignore[attr-defined]
        warnings._showwarnmsg = _original  # type: ignore[attr-defined]


def _show(message: warnings.WarningMessage) -> None:
    global _reissuing
    if _reissuing:
        _original(message)
        return
    try:
        plain = _plain_site(message, sys._getframe(1))
    except Exception:  # a fault in gradviz: the warning is still shown, where Python named it
        plain = message
    if plain is None:
        return
    if plain is message:
        _original(message)
        return
    module_globals = plain.f_globals
    _reissuing = True
    try:  # the user's own filters decide now; an "error" one raises the user's warning from here
        warnings.warn_explicit(
            message.message,
            message.category,
            plain.f_code.co_filename,
            plain.f_lineno,
            module=module_globals.get("__name__"),
            registry=module_globals.setdefault("__warningregistry__", {}),
            module_globals=module_globals,
            source=message.source,
        )
    finally:
        _reissuing = False


def _plain_site(message: warnings.WarningMessage, site: FrameType) -> Any:
    """The frame to re-issue the warning from; the message itself to show it as it is; None to drop it."""
    named, plain = frames_of(site, message.filename, message.lineno)
    if named is None or plain is named:
        return message
    forget(message, named)
    if message.filename.startswith(GRADVIZ_DIR) and in_isolation():
        return None  # torch warned about gradviz's own summary or Jacobian work, not the user's
    return message if plain is None else plain


def frames_of(
    site: FrameType | None, filename: str, lineno: int
) -> tuple[FrameType | None, FrameType | None]:
    """The frame a warning named, and the frame a plain run's warning would have named.

    Args:
        site: The frame that issued the warning (stacklevel 1).
        filename: The file the warning named.
        lineno: The line it named.

    Returns:
        The named frame (None when it is not on the stack) and the frame at the same stacklevel once
        gradviz's frames, and torch's hand-over of the op to the mode (``handle_torch_function`` and
        the function that called it), are left out (the same frame when none is in the way).
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
            if candidate.f_lineno == lineno and candidate.f_code.co_filename == filename
        ),
        None,
    )
    if level is None:
        return None, None
    names = [candidate.f_code.co_filename for candidate in stack[: level + 1]]
    if not any(name.startswith(GRADVIZ_DIR) for name in names):
        return stack[level], stack[level]  # the common case: nothing of gradviz's in the way
    names = [candidate.f_code.co_filename for candidate in stack]
    hidden = {index for index, name in enumerate(names) if name.startswith(GRADVIZ_DIR)}
    for index, name in enumerate(names):
        if name.endswith(DISPATCH_FILE) and index - 1 in hidden:
            hidden.update({index, index + 1})  # the dispatcher, and the torch function that called it
    plain = [candidate for index, candidate in enumerate(stack) if index not in hidden]
    return stack[level], plain[level] if level < len(plain) else None


def forget(message: warnings.WarningMessage, named: FrameType) -> None:
    """Undo what the matching warnings filter recorded for the location the warning named.

    Python marks a warning as seen in the named module's registry (its location, and for ``module`` and
    ``once`` its text) before showing it; left there, that mark would hide the next warning of the
    same text that gradviz's frame is named for, whichever user line it comes from.

    Args:
        message: The warning being shown.
        named: The frame it named.
    """
    text = str(message.message)
    category = message.category
    module = named.f_globals.get("__name__", "<string>")
    action = warnings.defaultaction  # type: ignore[attr-defined]
    for candidate, pattern, kind, module_pattern, line in warnings.filters:
        if (
            (pattern is None or pattern.match(text))
            and issubclass(category, kind)
            and (module_pattern is None or module_pattern.match(module))
            and (line == 0 or line == message.lineno)
        ):
            action = candidate
            break
    registry = named.f_globals.get("__warningregistry__")
    if action in ("default", "module", "once") and isinstance(registry, dict):
        registry.pop((text, category, message.lineno), None)  # Python marks the location for all three
        if action != "default":
            registry.pop((text, category), None)  # and the text, for "module" and "once"
