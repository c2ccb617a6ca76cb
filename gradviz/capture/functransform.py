"""Backward/grad calls that a ``torch.func`` transform makes itself (``grad``, ``vjp``, ``jacrev``, ...).

``torch.func.grad(f)(x)`` runs ``f`` on functorch's wrapped tensors (no storage, under ``vmap`` batched
too) and calls ``torch.autograd.grad`` on them inside the transform. That call is torch.func's, not one
the user wrote, its graph lives at the transform's level, and it never touches a leaf's ``.grad``: the
engine wrapper lets it through, neither counted nor captured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_functorch = getattr(torch._C, "_functorch", None)
_peek: Callable[[], Any] | None = getattr(_functorch, "peek_interpreter_stack", None)


def in_transform() -> bool:
    """Whether a ``torch.func`` transform is running now (its interpreter stack is not empty).

    Returns:
        True inside ``torch.func.grad``, ``vjp``, ``vmap``, ...; False outside, or where this torch
        cannot tell.
    """
    if _peek is None:
        return False
    try:
        return _peek() is not None
    except Exception:  # never a fault in the engine wrapper: an unknown torch just means "no"
        return False
