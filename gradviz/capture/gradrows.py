"""Copies of small gradients, written into the rows of a few buffers instead of one new tensor each.

A ``clone()`` per gradient made thousands of small allocations during a backward call; once they were
summarised, the C allocator kept most of that memory as fragmented free space for the rest of the
process (about 30 MiB on a 1000-layer MLP), and stacking the copies to reduce them allocated them all
once more. Here each (device, dtype, shape) gets one buffer of rows: a gradient is copied into the next
free row, and a full buffer is summarised where it lies (it already is the stack), then written again
from its first row. Only the rows written take memory, so a small graph costs a page, not a buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableSequence
from typing import Any

import torch

from gradviz.capture.bigreduce import is_dense
from gradviz.capture.summary import MAX_VALUES
from gradviz.model import Value

#: One buffer's bytes at most: it is summarised, in one reduction per statistic, each time it fills.
BUFFER_BYTES = 256 * 1024
#: One buffer's rows at most (each row is a view made with the buffer; many tiny ones would cost more).
BUFFER_ROWS = 256

#: Summaries of the first rows of a 2-D buffer, one row per tensor of the given shape and dtype.
RowsSummary = Callable[[torch.Tensor, tuple[int, ...], torch.dtype], list[Value]]


class _Buffer:
    """Rows of one shape and dtype on one device, and the slot each written row belongs to."""

    __slots__ = (
        "capacity",
        "data",
        "flipped",
        "keeps_values",
        "rows",
        "shape",
        "shaped",
        "slots",
        "transposed",
    )

    def __init__(self, data: torch.Tensor, shape: tuple[int, ...]) -> None:
        self.data = data  # (capacity, numel); torch.empty: pages are only taken when a row is written
        self.capacity = data.shape[0]
        self.shaped = data.view(self.capacity, *shape)
        # One view per row, made once, as rows are first needed: a view costs about as much as a copy, and
        # most buffers of a small graph (a bias, a scalar) fill a few of their hundreds of rows.
        self.rows: list[torch.Tensor] = []
        self.flipped: torch.Tensor | None = None  # the rows with a transpose's strides, once needed
        self.transposed: list[torch.Tensor] = []  # views of its rows, made as those of `rows` are
        self.shape = shape
        self.keeps_values = math.prod(shape) <= MAX_VALUES  # rows read back in their own order
        self.slots: list[int] = []

    def next_row(self) -> torch.Tensor:
        """The first row not written yet (the buffer is not full)."""
        return _row(self.rows, self.shaped, len(self.slots))

    def next_transposed_row(self) -> torch.Tensor:
        """The first row not written yet, strided as a transpose of a 2-D shape: a transposed tensor
        copied into it lands in its own memory order (the buffer's rows are 2-D, and it is not full)."""
        if self.flipped is None:
            rows, cols = self.shape
            self.flipped = self.data.view(self.capacity, cols, rows).transpose(1, 2)
        return _row(self.transposed, self.flipped, len(self.slots))


def _row(views: list[torch.Tensor], rows: torch.Tensor, written: int) -> torch.Tensor:
    """Row `written` of `rows`, from `views`, which gets a few more views of rows when it lacks it."""
    made = len(views)
    if written >= made:
        views += rows[made : max(written + 1, made + max(8, made))].unbind(0)
    return views[written]


class GradRows:
    """Small gradients copied into buffers of rows, each buffer summarised when it fills.

    Args:
        values: Where a summary goes, by slot (the batch's list of summaries).
        summarise: Summaries of a buffer's first rows (`gradbatch._rows_values`).
        hold_bytes: The buffers' bytes at most, all shapes together; a new shape that would pass it
            first has every buffer summarised and given back.
    """

    def __init__(
        self, values: MutableSequence[Value | None], summarise: RowsSummary, hold_bytes: int
    ) -> None:
        self._values = values
        self._summarise = summarise
        self._hold_bytes = hold_bytes
        self._buffers: dict[tuple[Any, ...], _Buffer] = {}
        self._bytes = 0

    def add(self, slot: int, data: torch.Tensor) -> None:
        """Copy a small, non-empty, floating, strided tensor (detached) into a row, for this slot."""
        key = (data.device, data.dtype, data.shape)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = self._new(data)
        if data.is_contiguous() or buffer.keeps_values:
            buffer.next_row().copy_(data)
        else:  # a transposed vJ, copied as it lies in memory: torch reduces it in that order too
            strides = data.stride()
            if len(strides) == 2 and strides == (1, buffer.shape[0]):  # a Linear's TBackward0 vJ
                buffer.next_transposed_row().copy_(data)
            elif is_dense(data.shape, strides):
                buffer.next_row().view(-1).copy_(torch.as_strided(data, (data.numel(),), (1,)))
            else:
                buffer.next_row().copy_(data)
        slots = buffer.slots
        slots.append(slot)
        if len(slots) == buffer.capacity:
            self._summarise_buffer(buffer)

    @property
    def held_bytes(self) -> int:
        """Bytes of the buffers held now (at most the bound given)."""
        return self._bytes

    def flush(self) -> None:
        """Summarise every row written, and give every buffer back."""
        buffers, self._buffers = list(self._buffers.values()), {}
        self._bytes = 0
        for buffer in buffers:
            self._summarise_buffer(buffer)

    def _new(self, data: torch.Tensor) -> _Buffer:
        row_bytes = data.numel() * data.element_size()
        capacity = max(1, min(BUFFER_ROWS, min(BUFFER_BYTES, self._hold_bytes) // row_bytes))
        if self._buffers and self._bytes + capacity * row_bytes > self._hold_bytes:
            self.flush()
        self._bytes += capacity * row_bytes
        shape = tuple(data.shape)
        buffer = torch.empty(capacity, math.prod(shape), dtype=data.dtype, device=data.device)
        return _Buffer(buffer, shape)

    def _summarise_buffer(self, buffer: _Buffer) -> None:
        slots, buffer.slots = buffer.slots, []
        if not slots:
            return
        data = buffer.data
        rows = data if len(slots) == buffer.capacity else data[: len(slots)]  # a full one is read whole
        values = self._summarise(rows, buffer.shape, data.dtype)
        for slot, value in zip(slots, values, strict=True):
            self._values[slot] = value
