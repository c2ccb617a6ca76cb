"""Wrapping torch's autograd engine: the one function every backward and grad call goes through."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch.autograd

#: ``Tensor.backward``, ``torch.autograd.backward`` and ``torch.autograd.grad`` all call this module
#: global of ``torch.autograd`` at call time, however the user imported them.
ENGINE = "_engine_run_backward"

_level = torch._C._functorch.maybe_current_level  # None outside every torch.func transform
_wrapped = torch._C._functorch.is_functorch_wrapped_tensor
_compiling = torch.compiler.is_compiling


def transform_call(t_outputs: Sequence[Any]) -> bool:
    """Whether an engine call is a torch transform's own rather than the user's: torch.func's ``grad``,
    ``vjp``, ``jacrev`` (under ``vmap`` or not), or torch.compile tracing the backward of a compiled model.

    Its tensors are functorch wrappers or fake tensors without storage (reading their values raises), and
    its graph is the transform's: such a call goes straight to the engine, neither counted nor captured.

    Args:
        t_outputs: The engine's first argument, the tensors to differentiate.
    """
    return _level() is not None or _compiling() or any(_wrapped(t) for t in t_outputs)


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
