"""Summaries of one backward call's gradients, made together after the call instead of one by one in hooks.

A hook that summarised each gradient as it passed paid four reductions and four read-backs per tensor,
most of it per-op overhead. Here a hook only keeps the tensor (and its ``_version``); `summarize_batch`
then stacks same-shaped gradients and reduces each stack once. The engine never writes into a gradient
some other code still holds (it adds out of place instead), so what is kept is what the hook saw; a
gradient the user's own code changed in place later in the same call is told by its version counter,
and is then summarised by shape and dtype only, never with values it did not have when the hook saw it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.summary import MAX_VALUES, _freeze, dtype_name, summarize
from gradviz.model import Value

#: Gradients held at most (bytes) before the ones held are summarised and let go: memory stays bounded.
HOLD_BYTES = 16 * 1024 * 1024
#: A gradient with more elements is summarised at once: its reductions cost more than the calls to them.
HOLD_NUMEL = 1 << 16
_FLOATS = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
_detach = torch._C.TensorBase.detach


class GradBatch:
    """Gradients of one backward call, each distinct tensor kept once until `resolve` summarises them all.

    The vJ a node sends is, when nothing else adds to it, the very tensor the next node receives as its
    v, so a tensor seen again unchanged gets the same slot.

    Args:
        hold_bytes: Summarise what is held once it passes this many bytes.
    """

    def __init__(self, hold_bytes: int = HOLD_BYTES) -> None:
        self._hold_bytes = hold_bytes
        self._held: list[tuple[int, torch.Tensor, int]] = []  # slot, tensor, its _version when seen
        self._slots: dict[int, tuple[int, torch.Tensor, int]] = {}
        self._bytes = 0
        self._values: list[Value | None] = []

    def add(self, tensor: torch.Tensor | None) -> int:
        """Keep a gradient the engine handed to a hook; its slot number (-1 for None, "no gradient")."""
        if tensor is None:
            return -1
        version = tensor._version
        known = self._slots.get(id(tensor))
        if known is not None and known[1] is tensor and known[2] == version:
            return known[0]
        slot = len(self._values)
        if tensor.numel() > HOLD_NUMEL or tensor.layout != torch.strided:
            self._values.append(summarize(tensor))
            return slot
        self._values.append(None)
        self._held.append((slot, tensor, version))
        self._slots[id(tensor)] = (slot, tensor, version)
        self._bytes += tensor.nbytes
        if self._bytes > self._hold_bytes:
            self._summarise_held()
        return slot

    def resolve(self) -> list[Value | None]:
        """Every slot's summary, by slot number; nothing is held afterwards."""
        self._summarise_held()
        return self._values

    def _summarise_held(self) -> None:
        held, self._held = self._held, []
        # Slots are found by id only while their tensor is held: once let go, its id may be reused.
        self._slots = {}
        self._bytes = 0
        with isolated():
            values = summarize_batch([tensor for _, tensor, _ in held])
            for (slot, tensor, version), value in zip(held, values, strict=True):
                if tensor._version != version:  # changed in place after its hook saw it: no values
                    value = Value(shape=tuple(tensor.shape), dtype=dtype_name(tensor.dtype))
                self._values[slot] = value


def _batchable(tensor: torch.Tensor) -> bool:
    return tensor.dtype in _FLOATS and tensor.layout == torch.strided and not tensor.is_meta


def summarize_batch(tensors: Sequence[torch.Tensor]) -> list[Value]:
    """`summarize` of each tensor, with same-shaped floating tensors reduced together.

    Small tensors keep their values and statistics from one ``tolist()`` per shape; larger ones get
    min, max, mean and 2-norm from one reduction each per shape, in their own dtype (half precision
    accumulates in float32), as `summarize` computes them. Others (sparse, meta, complex, empty) are
    summarised one by one.

    Args:
        tensors: Dense or sparse tensors on any device.

    Returns:
        One summary per tensor, in order.
    """
    out: list[Value | None] = [None] * len(tensors)
    groups: dict[tuple[Any, ...], list[int]] = {}
    with isolated():
        for position, tensor in enumerate(tensors):
            if _batchable(tensor) and tensor.numel() > 0:
                groups.setdefault((tensor.device, tensor.dtype, tuple(tensor.shape)), []).append(position)
            else:
                out[position] = summarize(tensor)
        for (_, dtype, shape), positions in groups.items():
            datas = [_detach(tensors[position]) for position in positions]
            for position, value in zip(positions, _group_values(datas, shape, dtype), strict=True):
                out[position] = value
    return [value for value in out if value is not None]


def summarize_all(tensors: Sequence[torch.Tensor | None]) -> list[Value | None]:
    """`summarize_batch`, passing None through (a leaf without ``.grad``)."""
    present = [tensor for tensor in tensors if tensor is not None]
    values = iter(summarize_batch(present))
    return [None if tensor is None else next(values) for tensor in tensors]


def _group_values(datas: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype) -> list[Value]:
    """Summaries of same-shaped, same-dtype floating tensors on one device."""
    name = dtype_name(dtype)
    count = len(datas)
    stacked = torch.stack(datas)
    numel = math.prod(shape)
    rows = stacked.reshape(count, numel)
    wide = torch.float32 if dtype.itemsize < 4 else None
    lows, highs = rows.amin(dim=1), rows.amax(dim=1)  # aminmax with a dim is many times slower on CPU
    if wide is not None:
        lows, highs = lows.to(wide), highs.to(wide)
    means, norms = rows.mean(dim=1, dtype=wide), torch.linalg.vector_norm(rows, dim=1, dtype=wide)
    stats = torch.stack((lows, highs, means, norms)).tolist()
    if numel > MAX_VALUES:
        return [
            Value(shape=shape, dtype=name, min=low, max=high, mean=mean, norm=norm)
            for low, high, mean, norm in zip(*stats, strict=True)
        ]
    return [
        Value(shape=shape, dtype=name, values=_freeze(listed), min=low, max=high, mean=mean, norm=norm)
        for listed, low, high, mean, norm in zip(stacked.tolist(), *stats, strict=True)
    ]
