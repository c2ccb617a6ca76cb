"""Find the user's own line: the innermost calling frame outside torch, gradviz and the runtime."""

from __future__ import annotations

import linecache
import os
import sys
from types import FrameType

import torch

from gradviz.capture.cells import cell_name
from gradviz.model import Location

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
#: Where torch hands a call to an active torch function mode (``handle_torch_function``).
DISPATCH_FILE = os.path.join("torch", "overrides.py")
#: The gradviz package's own folder: its frames are never the user's.
GRADVIZ_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_RUNNER_FILES = (f"{os.sep}runpy.py", "<frozen ")
_STDLIB_MARKERS = ("<frozen ", f"{os.sep}runpy.py", f"{os.sep}contextlib.py", f"{os.sep}functools.py")
#: The code torch.fx generates for a graph (torch.compile runs it): torch's, not the user's.
_GENERATED = "<eval_with_key>"


def is_runner_frame(filename: str) -> bool:
    """Whether a frame belongs to what runs the user's script: gradviz, or Python's ``runpy``."""
    return filename.startswith(GRADVIZ_DIR) or any(marker in filename for marker in _RUNNER_FILES)


def tracer_frames(names: list[str]) -> set[int]:
    """Which frames of a stack (outermost first) exist only because gradviz traces it.

    Args:
        names: The frames' file names, outermost first.

    Returns:
        The indices of gradviz's frames, and of torch's hand-over of a call to gradviz's mode (the
        dispatcher in ``torch/overrides.py`` and the torch frame that called it).
    """
    hidden = {i for i, name in enumerate(names) if name.startswith(GRADVIZ_DIR)}
    for i, name in enumerate(names):
        if name.endswith(DISPATCH_FILE) and i + 1 in hidden:
            hidden.update({i, i - 1})
    return hidden


def is_internal(filename: str) -> bool:
    """Whether a frame's file belongs to torch, gradviz or the Python runtime rather than the user."""
    return filename.startswith((_TORCH_DIR, GRADVIZ_DIR, _GENERATED)) or any(
        marker in filename for marker in _STDLIB_MARKERS
    )


def user_frame(start: FrameType | None = None) -> FrameType | None:
    """The innermost frame that belongs to the user's code, or None."""
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def frame_location(frame: FrameType, root: str | None = None, *, line: int | None = None) -> Location:
    """A `Location` for a frame (at `line`, default its current line), relative to `root` when under it.

    A Jupyter cell's code is named as IPython names it (``In[3]``), not by the kernel's temporary file.
    """
    filename = frame.f_code.co_filename
    if line is None:
        line = frame.f_lineno
    code = linecache.getline(filename, line).strip() or None
    shown = cell_name(filename) or filename
    if root is not None and filename.startswith(root + os.sep) and shown == filename:
        shown = filename[len(root) + 1 :]
    return Location(file=shown, line=line, function=frame.f_code.co_name, code=code)


def user_location(root: str | None = None) -> Location | None:
    """The user's current line, or None when only torch or gradviz frames are on the stack.

    Args:
        root: A folder; files under it are shown relative to it (the traced script's folder).

    Returns:
        The location of the innermost user frame.
    """
    frame = user_frame(sys._getframe(1))
    if frame is None:
        return None
    return frame_location(frame, root)


def raise_location(exc: BaseException, root: str | None = None) -> Location | None:
    """The innermost user line in an exception's traceback: where the user's code raised it.

    Args:
        exc: An exception that reached the user's code.
        root: A folder; files under it are shown relative to it.

    Returns:
        The line, or None when the traceback holds no user frame.
    """
    traceback = exc.__traceback__
    found = None
    while traceback is not None:
        if not is_internal(traceback.tb_frame.f_code.co_filename):
            found = traceback
        traceback = traceback.tb_next
    if found is None:
        return None
    return frame_location(found.tb_frame, root, line=found.tb_lineno)
