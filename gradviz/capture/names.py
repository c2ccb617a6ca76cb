"""The user's own names for tensors: variables in the calling frames and nn.Module parameter paths."""

from __future__ import annotations

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


def _frames(start: FrameType | None) -> list[FrameType]:
    frames = []
    frame = start
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


_OTHER, _TENSOR, _MODULE, _SEQUENCE, _DICT = range(5)
#: Each type met so far, as one of the kinds above: most of a script's globals are skipped at a glance.
_kinds: dict[type, int] = {}


def _kind(value: Any) -> int:
    cls = type(value)
    kind = _kinds.get(cls)
    if kind is None:
        if len(_kinds) > 10_000:  # classes made on the fly: forget them now and then
            _kinds.clear()
        kind = _kinds[cls] = (
            _TENSOR
            if issubclass(cls, torch.Tensor)
            else _MODULE
            if issubclass(cls, torch.nn.Module)
            else _SEQUENCE
            if issubclass(cls, (list, tuple))
            else _DICT
            if issubclass(cls, dict)
            else _OTHER
        )
    return kind


#: What one scope (a frame's locals, or a module's globals) names: its modules, then its tensors.
_Scan = tuple[list[tuple[torch.nn.Module, str]], list[tuple[torch.Tensor, str]]]


def _scan(scope: dict[str, Any]) -> _Scan:
    """The modules (and lists of them) and the tensors (in lists, tuples and dicts too) of one scope."""
    modules: list[tuple[torch.nn.Module, str]] = []
    tensors: list[tuple[torch.Tensor, str]] = []
    known = _kinds.get
    for name, value in list(scope.items()):
        kind = known(type(value))
        if kind is None:
            kind = _kind(value)
        if kind == _OTHER or name.startswith("_"):
            continue
        named = name != "self"  # `self` inside forward: its parameters are named from the caller's module
        if kind == _TENSOR:
            if named:
                tensors.append((value, name))
        elif kind == _MODULE:
            modules.append((value, name))
        elif kind == _SEQUENCE:
            size = len(value)
            if size > _MAX_MODULE_LIST:
                continue
            with_tensors = named and size <= _MAX_CONTAINER_ITEMS
            for position, item in enumerate(value):
                found = known(type(item))
                if found is None:
                    found = _kind(item)
                if found == _MODULE:
                    modules.append((item, f"{name}[{position}]"))
                elif found == _TENSOR and with_tensors:
                    tensors.append((item, f"{name}[{position}]"))
        elif named and len(value) <= _MAX_CONTAINER_ITEMS:
            for key, item in value.items():
                if isinstance(key, str) and _kind(item) == _TENSOR:
                    tensors.append((item, f"{name}[{key!r}]"))
    return modules, tensors


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
    # Each scope is read once; a module's globals count for its outermost frame (modules) and its
    # innermost one (tensors), as if searched there.
    locals_ = [
        _scan(dict(frame.f_locals)) if frame.f_locals is not frame.f_globals else None for frame in frames
    ]
    globals_: dict[int, _Scan] = {}
    for frame in frames:
        if id(frame.f_globals) not in globals_:
            globals_[id(frame.f_globals)] = _scan(frame.f_globals)
    for scan in _in_order(frames[::-1], locals_[::-1], globals_):
        for module, prefix in scan[0]:
            _add_module(names, module, prefix)
    for scan in _in_order(frames, locals_, globals_):
        for tensor, name in scan[1]:
            names.add(tensor, name)
    return names


def _locals(frame: FrameType) -> _Scan | None:
    """A function frame's locals (None for a module's frame, whose locals are its globals)."""
    local = frame.f_locals  # read once: each read copies the frame's variables into the dict
    return None if local is frame.f_globals else _scan(dict(local))


def _in_order(
    frames: list[FrameType], locals_: list[_Scan | None], globals_: dict[int, _Scan]
) -> list[_Scan]:
    """The scans of `frames` in order: each frame's locals, then its globals where first met."""
    ordered: list[_Scan] = []
    seen: set[int] = set()
    for frame, local in zip(frames, locals_, strict=True):
        if local is not None:
            ordered.append(local)
        if id(frame.f_globals) not in seen:
            seen.add(id(frame.f_globals))
            ordered.append(globals_[id(frame.f_globals)])
    return ordered
