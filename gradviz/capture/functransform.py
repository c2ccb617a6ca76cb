"""Backward/grad calls that a torch transform makes itself: ``torch.func`` (``grad``, ``vjp``, ``jacrev``,
...) and ``torch.compile`` tracing a compiled model's backward.

``torch.func.grad(f)(x)`` runs ``f`` on functorch's wrapped tensors (no storage, under ``vmap`` batched
too) and calls ``torch.autograd.grad`` on them inside the transform. That call is torch.func's, not one
the user wrote, its graph lives at the transform's level, and it never touches a leaf's ``.grad``: the
engine wrapper lets it through, neither counted nor captured. So does the backward that AOT autograd
traces once on fake tensors while ``torch.compile`` compiles a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

_functorch = getattr(torch._C, "_functorch", None)
# Not peek_interpreter_stack(): it makes functorch's thread-local state, which torch then copies at every
# backward call for the rest of the process (about 5K instructions each); this check makes none.
_transforms_active: Callable[[], bool] | None = getattr(torch._C, "_are_functorch_transforms_active", None)
_wrapped: Callable[[Any], bool] | None = getattr(_functorch, "is_functorch_wrapped_tensor", None)
_compiling: Callable[[], bool] | None = getattr(getattr(torch, "compiler", None), "is_compiling", None)


def in_transform(t_outputs: Sequence[Any] = ()) -> bool:
    """Whether a backward/grad call now is a torch transform's own.

    Args:
        t_outputs: The tensors the call differentiates, where known: a ``vjp`` function called after its
            transform returned still differentiates functorch's wrapped tensors.

    Returns:
        True inside ``torch.func.grad``, ``vjp``, ``vmap``, ..., on functorch's wrapped tensors, and while
        torch.compile traces; False otherwise, or where this torch cannot tell.
    """
    try:
        if _transforms_active is not None and _transforms_active():
            return True
        if _compiling is not None and _compiling():
            return True
        if _wrapped is not None:
            for tensor in t_outputs:  # a loop, not any(): this runs at every backward call
                if _wrapped(tensor):
                    return True
        return False
    except Exception:  # never a fault in the engine wrapper: an unknown torch just means "no"
        return False
