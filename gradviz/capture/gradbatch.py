"""Summaries of one backward call's gradients, read back together after the call instead of one by one.

A hook that summarised each gradient as it passed paid four reductions and four read-backs per tensor,
most of it per-op overhead. Here a hook copies a small gradient into a row of a buffer of its shape
(`gradviz.capture.gradrows`), reduced once per statistic when the buffer fills or the call ends, and
reduces a large one at once, its results read back later (`gradviz.capture.bigreduce`). The small
gradients are copied, not held: a held reference would make the engine copy where it now steals a
gradient for ``.grad`` or adds into it in place, which a user's dispatch mode (and memory) would notice.
A view node's vJ over the same elements as a gradient already taken (too many to list its values) is
not reduced or copied again.

A gradient is known again by a plain weak reference held only until `GradBatch.resolve`, right after the
engine call: no ``swap_tensors`` can meet it, so it need not be gradviz's one `TensorRef` per tensor, whose
making (and the global entry it leaves on each ``.grad``) cost more than the rest of a hook.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.bigreduce import BigReductions, is_dense, make_value
from gradviz.capture.gradrows import GradRows
from gradviz.capture.isolation import isolated
from gradviz.capture.summary import MAX_VALUES, _freeze, dtype_name, summarize
from gradviz.capture.valuepool import shared
from gradviz.model import Value

#: Buffers of small-gradient copies held at most (bytes), all shapes together: memory stays bounded.
HOLD_BYTES = 4 * 1024 * 1024
#: Gradients with at most this many elements are copied, then stacked (their values are kept when few);
#: larger ones are reduced at once, for their statistics only (copying them would cost more).
STACK_NUMEL = 4096
#: Bytes of small tensors stacked at once: below the size the allocator would map fresh each time.
PIECE_BYTES = 64 * 1024
_FLOATS = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
_detach = torch._C.TensorBase.detach
_STRIDED = torch.strided
_ref = weakref.ref


class GradBatch:
    """Gradients of one backward call, each distinct tensor summarised once, all read back in `resolve`.

    The vJ a node sends is, when nothing else adds to it, the very tensor the next node receives as its
    v, so a tensor seen again unchanged gets the same slot (known by a weak reference: the engine's own
    reuse of a gradient's memory, adding into it in place or stealing it for ``.grad``, must not change).

    Args:
        hold_bytes: The buffers of small copies take at most this many bytes (`GradRows`).
    """

    def __init__(self, hold_bytes: int = HOLD_BYTES) -> None:
        self._big = BigReductions()
        # Dense gradients too many to keep values of, by memory span: slot, tensor (weak), version; views
        # found among them.
        self._spans: dict[tuple[Any, ...], tuple[int, weakref.ref[torch.Tensor], int]] = {}
        self._views: list[tuple[int, int, tuple[int, ...]]] = []  # slot, slot of the same elements, shape
        # By id: slot, tensor, version; weak, and only until `resolve` (see the module's docstring).
        self._seen: dict[int, tuple[int, weakref.ref[torch.Tensor], int]] = {}
        self._values: list[Value | None] = []
        self._rows = GradRows(self._values, _rows_values, hold_bytes)  # copies as the hooks saw them

    def add(self, tensor: torch.Tensor | None) -> int:
        """Take a gradient the engine handed to a hook; its slot number (-1 for None, "no gradient").

        Call it inside `isolated()`: the copies and reductions are gradviz's own ops.
        """
        if tensor is None:
            return -1
        version = tensor._version
        key = id(tensor)
        seen = self._seen.get(key)
        if seen is not None and seen[2] == version and seen[1]() is tensor:
            return seen[0]
        values = self._values
        slot = len(values)
        values.append(None)
        self._seen[key] = (slot, _ref(tensor), version)
        count = tensor.numel()
        if tensor.dtype not in _FLOATS or count == 0 or tensor.layout is not _STRIDED or tensor.is_meta:
            values[slot] = summarize(tensor)
            return slot
        if tensor.requires_grad:  # a create_graph backward: the copy must not join the graph
            tensor = _detach(tensor)
        if count <= MAX_VALUES:  # its values are kept, in its own shape: copied whatever else was taken
            self._rows.add(slot, tensor)
        elif count <= STACK_NUMEL:
            if not self._is_view(slot, tensor, version, count, tensor.is_contiguous()):
                self._rows.add(slot, tensor)
        else:
            contiguous = tensor.is_contiguous()
            if not self._is_view(slot, tensor, version, count, contiguous):
                self._big.take(slot, tensor, count=count, contiguous=contiguous)
        return slot

    def slot_of(self, tensor: torch.Tensor | None) -> int:
        """The slot of a tensor taken before and unchanged since (by identity and version), else -1.

        A leaf's ``.grad`` after the call is often the very v its AccumulateGrad received (the engine
        steals v when ``.grad`` was None): its summary is then that v's. Ask before `resolve`.
        """
        if tensor is None:
            return -1
        seen = self._seen.get(id(tensor))
        if seen is None or seen[2] != tensor._version or seen[1]() is not tensor:
            return -1
        return seen[0]

    def resolve(self) -> list[Value | None]:
        """Every slot's summary, by slot number; nothing is held afterwards."""
        self._seen.clear()
        self._spans.clear()
        values = self._values
        with isolated():
            self._rows.flush()
            for slot, big in self._big.read():
                values[slot] = big
        for slot, source, shape in self._views:
            value = values[source]
            if value is not None and value.shape != shape:  # too big for its values: statistics only
                value = make_value(shape, value.dtype, None, value.min, value.max, value.mean, value.norm)
            values[slot] = value
        self._views.clear()
        return values

    def _is_view(self, slot: int, tensor: torch.Tensor, version: int, count: int, contiguous: bool) -> bool:
        """Whether a gradient is a view of one already taken over the same elements, its summary then
        that one's (in its own shape); if not, it is noted as taken. Its values must not be kept.

        A view node's vJ (``view``, ``t``, ``permute``, ``reshape``) is its v in another shape: the same
        memory, and the same version counter, so an unchanged version means unchanged elements. Either
        is reduced (or copied) in memory order when it fills its span, so both read the same numbers.
        """
        if not contiguous and not is_dense(tensor.shape, tensor.stride()):
            return False
        span = (tensor.data_ptr(), count, tensor.dtype, tensor.device)
        known = self._spans.get(span)
        if known is not None and known[2] == version:
            first = known[1]()
            if first is not None and first._version == version:  # both unchanged since it was taken
                self._views.append((slot, known[0], tuple(tensor.shape)))
                return True
        self._spans[span] = (slot, _ref(tensor), version)
        return False


def _batchable(tensor: torch.Tensor) -> bool:
    return tensor.dtype in _FLOATS and tensor.layout == torch.strided and not tensor.is_meta


def summarize_batch(tensors: Sequence[torch.Tensor]) -> list[Value]:
    """`summarize` of each tensor, with the statistics of all of them read back together.

    Small tensors of one shape are stacked: their values and statistics come from one reduction per
    statistic and shape. Larger ones are reduced one by one, in their own dtype (half precision
    accumulates in float32), as `summarize` computes them. Others (sparse, meta, complex, empty) are
    summarised by `summarize` itself.

    Args:
        tensors: Dense or sparse tensors on any device.

    Returns:
        One summary per tensor, in order.
    """
    out: list[Value | None] = [None] * len(tensors)
    groups: dict[tuple[Any, ...], list[int]] = {}
    large: list[int] = []
    with isolated():
        for position, tensor in enumerate(tensors):
            count = tensor.numel()
            if not _batchable(tensor) or count == 0:
                out[position] = summarize(tensor)
            elif count > STACK_NUMEL:
                large.append(position)
            else:
                groups.setdefault((tensor.device, tensor.dtype, tuple(tensor.shape)), []).append(position)
        for (_, dtype, shape), positions in groups.items():
            datas = [tensors[position] for position in positions]
            datas = [_detach(data) if data.requires_grad else data for data in datas]
            for position, value in zip(positions, _group_values(datas, shape, dtype), strict=True):
                out[position] = value
        big = BigReductions()
        for position in large:
            big.take(position, _detach(tensors[position]))
        for position, value in big.read():
            out[position] = value
    return [value for value in out if value is not None]


def summarize_all(tensors: Sequence[torch.Tensor | None]) -> list[Value | None]:
    """`summarize_batch`, passing None through (a leaf without ``.grad``)."""
    present = [tensor for tensor in tensors if tensor is not None]
    values = iter(summarize_batch(present))
    return [None if tensor is None else next(values) for tensor in tensors]


def _wide(dtype: torch.dtype) -> torch.dtype | None:
    return torch.float32 if dtype.itemsize < 4 else None


def _group_values(datas: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype) -> list[Value]:
    """Summaries of small same-shaped, same-dtype floating tensors on one device, a piece at a time.

    Pieces stay under `PIECE_BYTES`: one big stack of a thousand leaf gradients was a fresh mapping the
    kernel zeroed page by page on every call, and a block the C allocator then kept as free memory.
    """
    numel = math.prod(shape)
    chunk = max(1, PIECE_BYTES // max(1, numel * dtype.itemsize))
    values: list[Value] = []
    for start in range(0, len(datas), chunk):
        part = datas[start : start + chunk]
        values += _rows_values(torch.stack(part).view(len(part), numel), shape, dtype)
    return values


def _rows_values(rows: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype) -> list[Value]:
    """Summaries of the rows of a contiguous 2-D tensor, each row one flattened tensor of this shape."""
    name = dtype_name(dtype)
    count, numel = rows.shape
    wide = _wide(dtype)
    lows, highs = rows.amin(dim=1), rows.amax(dim=1)  # aminmax with a dim is many times slower on CPU
    if wide is not None:
        lows, highs = lows.to(wide), highs.to(wide)
    means, norms = rows.mean(dim=1, dtype=wide), torch.linalg.vector_norm(rows, dim=1, dtype=wide)
    stats = torch.stack((lows, highs, means, norms)).tolist()
    if numel > MAX_VALUES:
        return [
            make_value(shape, name, None, low, high, mean, norm)
            for low, high, mean, norm in zip(*stats, strict=True)
        ]
    freeze = tuple if len(shape) == 1 else _freeze  # a row of a 1-D shape lists flat numbers
    return [
        shared(make_value(shape, name, freeze(listed), low, high, mean, norm))
        for listed, low, high, mean, norm in zip(rows.view(count, *shape).tolist(), *stats, strict=True)
    ]
