"""The user's current line, fast enough to ask on every recorded op (results cached per code line)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import CodeType
from typing import Any

from gradviz.capture.location import DISPATCH_FILE, GRADVIZ_DIR, frame_location, is_internal
from gradviz.model import Location

_FUNCTION_FILE = os.path.join("autograd", "function.py")


class Locator:
    """Finds the innermost user frame, caching which code objects are internal and each line's `Location`.

    Args:
        root: Files under this folder are shown relative to it.
    """

    def __init__(self, root: str | None = None) -> None:
        self._root = root
        # Keyed by file name, not code object: a code object's hash reads all its bytecode each time.
        self._internal: dict[str, bool] = {}
        # Keyed by the code's id and the frame's last instruction (f_lineno scans the line table); the
        # code object is kept with its entry, so its id is not reused while the entry lives.
        self._locations: dict[tuple[int, int], tuple[CodeType, Location]] = {}

    def here(self, frame: Any = None, skip: int = 0) -> Location | None:
        """The user's line that led to the current call, or None when only library frames are on the stack.

        Args:
            frame: Where to start looking (default: the caller's frame).
            skip: Without `frame`, how many of gradviz's own frames above the caller to pass over unread
                (reading a frame makes a frame object, which the timeline's hot path avoids).

        Returns:
            The innermost user line at or above ``frame``.
        """
        if frame is None:
            try:
                frame = sys._getframe(1 + skip)
            except ValueError:  # nothing above the frames skipped, which are gradviz's own
                return None
        internal = self._internal
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            flag = internal.get(filename)
            if flag is None:
                flag = internal[filename] = is_internal(filename)
            if not flag:
                key = (id(code), frame.f_lasti)
                entry = self._locations.get(key)
                if entry is None or entry[0] is not code:
                    entry = self._locations[key] = (code, frame_location(frame, self._root))
                return entry[1]
            frame = frame.f_back
        return None


def called_by_user(frame: Any = None) -> bool:
    """Whether the torch call being recorded was made by the user's own code, not inside torch.

    ``torch.autograd.functional.hessian`` detaches tensors internally, for example: those ops are on
    the timeline at the user's line, but warning the user about a detach they never wrote would mislead.

    Args:
        frame: A frame inside gradviz's mode (default: the caller's frame).

    Returns:
        True when the first frame outside gradviz (and outside torch's dispatch to the mode, which
        passes through ``handle_torch_function`` from the public function's own frame) is the user's.
    """
    frame = frame if frame is not None else sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(GRADVIZ_DIR):
        frame = frame.f_back
    if frame is not None and frame.f_code.co_filename.endswith(DISPATCH_FILE):
        frame = frame.f_back.f_back if frame.f_back is not None else None
    return frame is not None and not is_internal(frame.f_code.co_filename)


def apply_location(here: Callable[[Any], Location | None]) -> Location | None:
    """Inside a custom ``autograd.Function``'s forward: the user's line that called ``apply``, or None.

    Args:
        here: A `Locator`'s ``here``.

    Returns:
        The line of ``MyFunction.apply(...)``, found above torch's ``Function.apply`` frame.
    """
    frame: Any = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "apply" and code.co_filename.endswith(_FUNCTION_FILE):
            return here(frame.f_back)
        frame = frame.f_back
    return None
