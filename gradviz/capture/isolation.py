"""gradviz's own tensor work, out of sight of the user's torch function and dispatch modes.

Summaries, fingerprints, Jacobians and norms are gradviz's ops, not the user's: a ``TorchDispatchMode``
the user pushed (a FLOP counter, an op logger) must see the same aten ops with and without gradviz, and a
``TorchFunctionMode`` of theirs the same calls. Inside `isolated()` both kinds of mode are taken off the
stack (``DisableTorchFunction``, and torch's own ``_disable_current_modes`` when a dispatch mode is
active) and put back afterwards. Wrapped numbers then also stay tensors: a dispatch mode turns a saved
scalar such as the 2 of ``x * 2`` into a Python int. While the user's profiler runs, the block's ops are
not recorded either (``_enable_record_function(False)``, per thread): their ``key_averages()`` lists their
own ops only.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import torch
from torch.utils._python_dispatch import _disable_current_modes

_disable_torch_function = torch._C.DisableTorchFunction
_all_disabled = torch._C._is_torch_function_all_disabled
_dispatch_modes = torch._C._len_torch_dispatch_stack
_record_functions = torch._C._autograd._enable_record_function


class _AskTheProfiler:
    """Stands in for torch's Python profiler flag on a torch without one: asks the profiler itself."""

    @property
    def _is_profiler_enabled(self) -> bool:
        return bool(torch._C._autograd._profiler_enabled())


#: ``PROFILER._is_profiler_enabled``: whether a profiler runs, from the flag torch's Python profilers set
#: on start and stop for their own fast checks (an attribute read, where the C call cost ~1K instructions).
PROFILER: Any = (
    torch.autograd.profiler if hasattr(torch.autograd.profiler, "_is_profiler_enabled") else _AskTheProfiler()
)


def in_isolation() -> bool:
    """Whether gradviz is doing its own tensor work now: warnings then are gradviz's, not the user's."""
    return bool(_all_disabled())


class isolated:
    """Context manager: the block's torch calls reach no user mode. Cheap when no dispatch mode is on."""

    __slots__ = ("_dispatch", "_function", "_unrecorded")

    def __enter__(self) -> None:
        self._dispatch: Any = None
        self._unrecorded = False
        # Inside a block already (torch function all off, dispatch modes popped): nothing more to do.
        if _all_disabled() and not _dispatch_modes():
            self._function: Any = None
            return
        function = self._function = _disable_torch_function()
        function.__enter__()
        if _dispatch_modes():  # the user's TorchDispatchModes (export's pre-dispatch modes are not theirs)
            self._dispatch = _disable_current_modes()
            self._dispatch.__enter__()
        if PROFILER._is_profiler_enabled:  # the user's profiler: gradviz's ops stay out of their profile
            _record_functions(False)
            self._unrecorded = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._function is None:
            return
        if self._unrecorded:
            _record_functions(True)
        try:
            if self._dispatch is not None:
                self._dispatch.__exit__(exc_type, exc, traceback)
        finally:
            self._function.__exit__(exc_type, exc, traceback)


def isolating() -> Any:
    """`isolated()` for a hot path: torch's own context manager alone while no dispatch mode and no
    profiler is on (the usual case), which costs no Python-level enter and exit.

    Returns:
        A context manager with `isolated`'s effect.
    """
    return isolated() if _dispatch_modes() or PROFILER._is_profiler_enabled else _disable_torch_function()
