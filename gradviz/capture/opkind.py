"""Classify what a ``__torch_function__`` call is, once per function (the result is cached)."""

from __future__ import annotations

from types import FrameType
from typing import Any

# Codes for what a torch function does, as the forward recorder cares about it.
OP = 0
INPLACE = 1
DETACH = 2
DETACH_INPLACE = 3
GRAD_MODE = 4
DATA_GET = 5
DATA_SET = 6
GRAD_GET = 7
REQUIRES_GRAD = 8
REQUIRES_GRAD_SET = 9
RETAIN_GRAD = 10
SKIP = 11
GRAD_SET = 12

_AUGMENTED = frozenset(
    f"__i{name}__"
    for name in (
        "add",
        "sub",
        "mul",
        "truediv",
        "floordiv",
        "mod",
        "pow",
        "and",
        "or",
        "xor",
        "lshift",
        "rshift",
    )
)
_BY_NAME = {
    "detach": DETACH,
    "detach_": DETACH_INPLACE,
    "_set_grad_enabled": GRAD_MODE,
    "requires_grad_": REQUIRES_GRAD,
    "retain_grad": RETAIN_GRAD,
    # The Tracer records backward calls itself.
    "backward": SKIP,
    "grad": SKIP,
    "__setitem__": INPLACE,
}
_DESCRIPTORS = {("__get__", "data"): DATA_GET, ("__set__", "data"): DATA_SET}
_DESCRIPTORS |= {("__get__", "grad"): GRAD_GET, ("__set__", "requires_grad"): REQUIRES_GRAD_SET}
_DESCRIPTORS[("__set__", "grad")] = GRAD_SET
_cache: dict[Any, tuple[int, str]] = {}


def _name(func: Any) -> str:
    name: str = getattr(func, "__name__", None) or type(func).__name__
    qualname: str = getattr(func, "__qualname__", "") or ""
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return "Tensor." + name
    module = getattr(func, "__module__", None) or ""
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return "F." + name
    return name


def _classify(func: Any) -> tuple[int, str]:
    name = getattr(func, "__name__", None)
    if name in ("__get__", "__set__"):
        attr = getattr(getattr(func, "__self__", None), "__name__", "")
        return _DESCRIPTORS.get((name, attr), SKIP), f"Tensor.{attr}"
    if name is None:
        return OP, type(func).__name__
    code = _BY_NAME.get(name)
    if code is not None:
        return code, _name(func)
    if name in _AUGMENTED or (name.endswith("_") and not name.endswith("__")):
        return INPLACE, _name(func)
    return OP, _name(func)


def classify(func: Any) -> tuple[int, str]:
    """What a torch function is and the name the timeline shows for it.

    Args:
        func: The ``func`` a TorchFunctionMode receives.

    Returns:
        A code (``OP``, ``INPLACE``, ``DATA_GET``, ...) and a name such as ``"mul"`` or ``"Tensor.mul_"``.
    """
    try:
        return _cache[func]
    except KeyError:
        pass
    except TypeError:
        return _classify(func)
    result = _classify(func)
    _cache[func] = result
    return result


def grad_switch_name(frame: FrameType | None) -> tuple[str, str | None]:
    """Name a ``_set_grad_enabled`` call by the context manager making it, from the calling frames.

    Args:
        frame: The frame that received the call (inside the TorchFunctionMode).

    Returns:
        (``"no_grad"``, ``"enter"``), (``"enable_grad"``, ``"exit"``), ... or (``"set_grad_enabled"``, None)
        for a plain function call.
    """
    for _ in range(3):
        frame = frame.f_back if frame is not None else None
        if frame is not None and frame.f_code.co_name in ("__enter__", "__exit__"):
            owner = frame.f_locals.get("self")
            return type(owner).__name__, "enter" if frame.f_code.co_name == "__enter__" else "exit"
    return "set_grad_enabled", None
