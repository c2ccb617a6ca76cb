"""The line that opened the ``no_grad``/``inference_mode`` block an op runs in, for findings about it.

``torch.no_grad()`` switches grad through ``_set_grad_enabled``, which the forward recorder sees at the
``with`` line; ``inference_mode`` does not, so its block is found from the stack and the source.
"""

from __future__ import annotations

import dataclasses
import functools
import linecache
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from gradviz.capture.location import is_internal
from gradviz.model import Location

_CONTEXTLIB = os.path.join("torch", "utils", "_contextlib.py")
_WITH_INFERENCE = re.compile(r"^\s*(async\s+)?with\b.*\binference_mode\b")


@functools.lru_cache(maxsize=4096)
def _enclosing_with(filename: str, line: int, first_line: int) -> tuple[int, str] | None:
    """The ``with ... inference_mode`` line whose block holds ``line`` (by indentation), in one function."""
    text = linecache.getline(filename, line)
    indent = len(text) - len(text.lstrip())
    for number in range(line - 1, first_line - 1, -1):
        text = linecache.getline(filename, number)
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        level = len(text) - len(text.lstrip())
        if level < indent:
            if _WITH_INFERENCE.match(text):
                return number, stripped
            indent = level
            if level == 0:
                break
    return None


def block_line_from_frames(here: Callable[[Any], Location | None], depth: int = 64) -> Location | None:
    """The ``with torch.inference_mode():`` line (or the decorated function's call line) around this op.

    ``inference_mode`` does not switch grad through a function the mode sees, so its block is found from
    the stack: the enclosing ``with ... inference_mode`` line of a user frame, read from its source, or
    the caller of torch's decorator.

    Args:
        here: A `Locator`'s ``here`` (the user's line at or above a frame).
        depth: Frames looked at, at most.

    Returns:
        The line, or None when neither the stack nor the source shows it.
    """
    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_filename.endswith(_CONTEXTLIB):
            return here(frame.f_back)
        if not is_internal(code.co_filename):
            found = _enclosing_with(code.co_filename, frame.f_lineno, code.co_firstlineno)
            location = here(frame) if found is not None else None
            if found is not None and location is not None:
                return dataclasses.replace(location, line=found[0], code=found[1])
        frame = frame.f_back
    return None
