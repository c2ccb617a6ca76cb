"""``torch.jit.trace`` with gradviz's torch function mode off the stack, as in a plain run.

The TorchScript tracer takes each value's name from the Python frames above the op (a fixed number of
frames up) and its source line from the innermost frame: with gradviz's mode handling the op, both come
from gradviz's frames, so the graph reads differently, and ``trace``'s own check, which runs the model
again through another path of gradviz's, fails with "Graphs differed across invocations". While
installed, ``torch.jit.trace`` and ``torch.jit.trace_module`` take the mode off the stack for their
duration (when it is on top) and put it back afterwards: the traced ops stay off the timeline, as
compiled regions do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch.jit

from gradviz.capture.forward import ForwardRecorder

_NAMES = ("trace", "trace_module")


class JitTracePatch:
    """Wraps ``torch.jit.trace`` and ``torch.jit.trace_module`` while tracing; see the module docstring.

    Args:
        recorder: The forward timeline now, or None (it may be switched off while tracing).
    """

    def __init__(self, recorder: Callable[[], ForwardRecorder | None]) -> None:
        self._recorder = recorder
        self._originals: dict[str, Callable[..., Any]] = {}
        self._wrappers: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        """Put the wrappers in place of the two module attributes."""
        for name in _NAMES:
            original = getattr(torch.jit, name)
            self._originals[name] = original
            wrapper = self._wrappers[name] = self._wrap(original)
            setattr(torch.jit, name, wrapper)

    def restore(self) -> None:
        """Put torch's functions back, unless someone replaced our wrapper since (theirs stays)."""
        for name, original in self._originals.items():
            if getattr(torch.jit, name) is self._wrappers.get(name):
                setattr(torch.jit, name, original)
        self._wrappers.clear()

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            recorder = self._recorder() if self._wrappers else None  # None: a reference kept after tracing
            aside = recorder is not None and bool(recorder._part.run(recorder.step_aside))
            try:
                return original(*args, **kwargs)
            finally:
                if aside and recorder is not None:
                    recorder._part.run(lambda: _back(recorder))

        return wrapper


def _back(recorder: ForwardRecorder) -> None:
    """Push the timeline's mode again, recording as before it stepped aside."""
    recording = recorder.recording
    recorder.step_in()
    recorder.recording = recording
