"""The user's current line, fast enough to ask on every recorded op (results cached per code line)."""

from __future__ import annotations

import sys
from types import CodeType
from typing import Any

from gradviz.capture.location import frame_location, is_internal
from gradviz.model import Location


class Locator:
    """Finds the innermost user frame, caching which code objects are internal and each line's `Location`.

    Args:
        root: Files under this folder are shown relative to it.
    """

    def __init__(self, root: str | None = None) -> None:
        self._root = root
        self._internal: dict[CodeType, bool] = {}
        self._locations: dict[tuple[CodeType, int], Location] = {}

    def here(self) -> Location | None:
        """The user's line that led to the current call, or None when only library frames are on the stack."""
        frame: Any = sys._getframe(1)
        internal = self._internal
        while frame is not None:
            code = frame.f_code
            flag = internal.get(code)
            if flag is None:
                flag = internal[code] = is_internal(code.co_filename)
            if not flag:
                key = (code, frame.f_lineno)
                location = self._locations.get(key)
                if location is None:
                    location = self._locations[key] = frame_location(frame, self._root)
                return location
            frame = frame.f_back
        return None
