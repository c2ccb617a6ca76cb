"""The user's own names for tensors: variables in the calling frames and nn.Module parameter paths."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import torch

#: Containers (lists, tuples, dicts) are searched one level deep, up to this many items.
_MAX_CONTAINER_ITEMS = 64
#: Lists of modules (layers kept in a plain list) are searched up to this many items.
_MAX_MODULE_LIST = 1024


class NameMap:
    """Names for tensors and for the grad_fn nodes that produced them.

    The map holds strong references to what it names, so lookups by ``id()`` stay valid; keep it only
    for the duration of one capture.
    """

    def __init__(self) -> None:
        self._tensors: dict[int, tuple[torch.Tensor, str]] = {}

    def add(self, tensor: torch.Tensor, name: str) -> None:
        """Name a tensor, unless it already has a name (the first name found wins)."""
        self._tensors.setdefault(id(tensor), (tensor, name))

    def name_of(self, tensor: torch.Tensor) -> str | None:
        """The name of this exact tensor object, if one was found."""
        entry = self._tensors.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def grad_fn_names(self) -> dict[int, tuple[torch.Tensor, str]]:
        """Map from ``id(grad_fn)`` to (tensor, name) for every named non-leaf tensor.

        The tensor keeps its grad_fn alive, so the ``id`` is stable while the map is.
        """
        named: dict[int, tuple[torch.Tensor, str]] = {}
        for tensor, name in self._tensors.values():
            grad_fn = tensor.grad_fn
            if grad_fn is not None:
                named.setdefault(id(grad_fn), (tensor, name))
        return named

    def __len__(self) -> int:
        return len(self._tensors)


def _add_module(names: NameMap, module: torch.nn.Module, prefix: str) -> None:
    for param_name, param in module.named_parameters(prefix=prefix):
        names.add(param, param_name)
    for buffer_name, buffer in module.named_buffers(prefix=prefix):
        names.add(buffer, buffer_name)


def _add_value(names: NameMap, name: str, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        names.add(value, name)
    elif isinstance(value, (list, tuple)) and len(value) <= _MAX_CONTAINER_ITEMS:
        for position, item in enumerate(value):
            if isinstance(item, torch.Tensor):
                names.add(item, f"{name}[{position}]")
    elif isinstance(value, dict) and len(value) <= _MAX_CONTAINER_ITEMS:
        for key, item in value.items():
            if isinstance(key, str) and isinstance(item, torch.Tensor):
                names.add(item, f"{name}[{key!r}]")


def _frames(start: FrameType | None) -> list[FrameType]:
    frames = []
    frame = start
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


#: Types of values that never hold a tensor or a module: most of a script's globals, skipped at a glance.
_PLAIN_TYPES = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        type,
        type(_frames),
        type(len),
        type(sys),
        type(NameMap.add),
        type(NameMap().add),
        torch.dtype,
        torch.device,
    }
)
_Module = torch.nn.Module
_Tensor = torch.Tensor


def _scopes(frame: FrameType, seen: set[int]) -> list[dict[str, Any]]:
    """A frame's locals and globals, leaving out a globals dict already searched (frames of one module)."""
    scopes = []
    if frame.f_locals is not frame.f_globals:
        scopes.append(dict(frame.f_locals))
    if id(frame.f_globals) not in seen:
        seen.add(id(frame.f_globals))
        scopes.append(frame.f_globals)
    return scopes


def _add_modules(names: NameMap, scope: dict[str, Any]) -> None:
    for name, value in list(scope.items()):
        if type(value) in _PLAIN_TYPES or name.startswith("_"):
            continue
        if isinstance(value, _Module):
            _add_module(names, value, name)
        elif isinstance(value, (list, tuple)) and len(value) <= _MAX_MODULE_LIST:
            for position, item in enumerate(value):
                if isinstance(item, _Module):
                    _add_module(names, item, f"{name}[{position}]")


def _add_values(names: NameMap, scope: dict[str, Any]) -> None:
    for name, value in list(scope.items()):
        if type(value) in _PLAIN_TYPES or name.startswith("_") or name == "self":
            continue
        _add_value(names, name, value)


def collect_names(start: FrameType | None) -> NameMap:
    """Find the user's names for tensors, looking outwards from a frame.

    Parameters of nn.Modules come first, outermost frame first, so ``model.fc1.weight`` (from the
    script) wins over ``self.weight`` (from inside ``forward``). Plain variables follow, innermost frame
    first, so the name closest to the call wins.

    Args:
        start: The innermost user frame (None gives an empty map).

    Returns:
        A `NameMap` valid while the caller holds it.
    """
    names = NameMap()
    frames = _frames(start)
    seen: set[int] = set()
    for frame in reversed(frames):
        for scope in _scopes(frame, seen):
            _add_modules(names, scope)
    seen.clear()
    for frame in frames:
        for scope in _scopes(frame, seen):
            _add_values(names, scope)
    return names
