"""Device and dtype moves of live tensors: ``model.to()`` on the timeline, and ``explain`` for a copy.

``model.to(device)`` converts each parameter in place (``param.data = ...`` inside ``Module._apply``): the
parameters stay leaves, and the timeline says that rather than showing a ``.data`` swap of a tensor the
user never named. ``w = torch.randn(3, requires_grad=True).to(device)`` instead makes ``w`` a copy with
grad_fn ``ToCopyBackward0`` (see `gradviz.capture.movedleaf` for the finding at its line).
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

#: The grad_fn of every copy to another device or dtype (``to``, ``cuda``, ``cpu``, ``double``, ``type``).
TO_COPY = "ToCopyBackward0"
#: Methods of ``nn.Module`` that convert parameters through ``_apply``.
_CONVERSIONS = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "type", "xpu", "mps"})
_MODULE_FILE = "torch.nn.modules.module"


def module_conversion(frame: FrameType | None = None, depth: int = 24) -> str | None:
    """When a ``.data`` assignment is ``nn.Module.to()`` (or ``.double()``, ...) converting a parameter.

    Args:
        frame: Where to start looking up the stack (the caller's frame by default).
        depth: How many frames to look through.

    Returns:
        The conversion as the user called it (``"Module.to"``), or None when the user's own code
        assigned ``.data``.
    """
    current: FrameType | None = frame if frame is not None else sys._getframe(1)
    inside_apply = False
    for _ in range(depth):
        if current is None:
            break
        if current.f_globals.get("__name__") == _MODULE_FILE:
            name = current.f_code.co_name
            inside_apply = inside_apply or name == "_apply"
            if inside_apply and name in _CONVERSIONS:
                return f"Module.{name}"
        current = current.f_back
    return "Module._apply" if inside_apply else None


def module_conversion_detail(conversion: str, how: str = "param.data = ...") -> str:
    """The timeline's word on a parameter that ``Module.to()`` (or the like) converted in place."""
    return f"{conversion}() converted a parameter in place ({how}): it stays the same leaf"


def copy_explanation(name: str, tensor: Any) -> str | None:
    """`gradviz.explain` for a copy of a leaf (``.to(device)``, ``.double()``): where its gradient went.

    Args:
        name: The user's name for the tensor.
        tensor: A live tensor that is not a leaf and does not retain its grad.

    Returns:
        Sentences naming the leaf it copied and that leaf's ``.grad``; None for any other tensor.
    """
    grad_fn = tensor.grad_fn
    if type(grad_fn).__name__ != TO_COPY or not grad_fn.next_functions:
        return None
    source = grad_fn.next_functions[0][0]
    leaf = getattr(source, "variable", None)
    if leaf is None:
        return None
    grad = leaf.grad
    held = "nothing yet (no backward has reached it)" if grad is None else _shown(grad)
    return (
        f"{name} is not a leaf: it is a copy (grad_fn={TO_COPY}) of a leaf on {leaf.device} in "
        f"{_short(leaf.dtype)}, made on {tensor.device} in {_short(tensor.dtype)}. Backward sends the "
        f"gradient back across the copy to that leaf, whose .grad holds {held}; {name}.grad stays None. "
        f"To train {name}, make it the leaf where it lives: create it there "
        f"(`torch.randn(..., device=..., dtype=..., requires_grad=True)`) or call .requires_grad_() after "
        f"the move."
    )


def _short(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _shown(grad: Any) -> str:
    if grad.is_meta:
        return f"a tensor of shape {list(grad.shape)} on meta"
    if grad.numel() <= 8:
        return f"{grad.detach().tolist()}"
    return f"a tensor of shape {list(grad.shape)}"
