"""Wrapping torch's autograd engine: the one function every backward and grad call goes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.autograd

#: ``Tensor.backward``, ``torch.autograd.backward`` and ``torch.autograd.grad`` all call this module
#: global of ``torch.autograd`` at call time, however the user imported them.
ENGINE = "_engine_run_backward"


class EnginePatch:
    """Puts a wrapper in place of ``torch.autograd._engine_run_backward`` and takes it away again."""

    def __init__(self) -> None:
        self.original: Callable[..., Any] | None = None
        self._wrapper: Callable[..., Any] | None = None

    def install(self, wrapper: Callable[..., Any]) -> None:
        """Route every backward/grad call through `wrapper`; the engine itself stays in `original`.

        Args:
            wrapper: Called with the engine's arguments instead of the engine.
        """
        self.original = getattr(torch.autograd, ENGINE)
        self._wrapper = wrapper
        setattr(torch.autograd, ENGINE, wrapper)

    @property
    def active(self) -> bool:
        """Whether the wrapper is installed (between `install` and `restore`)."""
        return self._wrapper is not None

    def restore(self) -> None:
        """Put the engine back, unless someone else has replaced our wrapper since.

        Theirs then stays, and still calls our wrapper, which from now on only passes calls through.
        """
        if self.original is None:
            return
        if getattr(torch.autograd, ENGINE) is self._wrapper:
            setattr(torch.autograd, ENGINE, self.original)
        self._wrapper = None
