"""Statistics of big gradients: reduced in the hook, while the gradient is warm in cache, read back later.

Each big gradient costs three reductions (``aminmax``, ``sum``, ``vector_norm``) and no more: their
results, 0-dim tensors, wait in lists and are stacked and read back together, four ``tolist()`` per
dtype and device for a whole backward call. The numbers are torch's own for each tensor, bit for bit.
Copying the gradients into a buffer to reduce them as rows was tried: on the CPU the copy and the cold
second read cost more than the calls they saved.
"""

from __future__ import annotations

import torch

from gradviz.capture.extremes import extremes
from gradviz.capture.records import record_maker
from gradviz.capture.summary import dtype_name
from gradviz.model import Value

#: Results held at most before they are read back: each 0-dim result is a tensor of about 1 KB, so
#: holding those of a whole big model (2048) raised the peak by about 5 MiB.
HOLD_COUNT = 256

_HALF = frozenset({torch.float16, torch.bfloat16})
_FLOAT32 = torch.float32
_vector_norm = torch.linalg.vector_norm
_aminmax = torch.aminmax
#: ``Value(...)``, made quickly: one per big gradient.
make_value = record_maker(Value)


class BigReductions:
    """min, max, mean and 2-norm of big dense floating tensors, each reduced when taken, read in `read`."""

    def __init__(self) -> None:
        # Per dtype and device: the slot, shape and element count of each tensor, and its results.
        self._kinds: dict[tuple[torch.dtype, torch.device], _Results] = {}
        self._count = 0
        self._found: list[tuple[int, Value]] = []

    def take(
        self, slot: int, tensor: torch.Tensor, *, count: int | None = None, contiguous: bool | None = None
    ) -> None:
        """Reduce one tensor now: later changes to it do not matter. Call it inside `isolated()`.

        Args:
            slot: The number its summary is given back under.
            tensor: A dense, strided, non-empty float16, bfloat16, float32 or float64 tensor that does
                not require grad.
            count: Its number of elements, where the caller has it already.
            contiguous: Whether it is contiguous, where the caller has it already.
        """
        dtype = tensor.dtype
        key = (dtype, tensor.device)
        results = self._kinds.get(key)
        if results is None:
            results = self._kinds[key] = _Results(dtype)
        if count is None:
            count = tensor.numel()
        if contiguous if contiguous is not None else tensor.is_contiguous():
            low, high = _aminmax(tensor)
        elif is_dense(tensor.shape, tensor.stride()):  # aminmax would copy a transposed tensor whole first
            low, high = _aminmax(torch.as_strided(tensor, (count,), (1,)))
        else:
            low, high = extremes(tensor)
        if dtype in _HALF:  # half precision accumulates in float32, as `summarize` reads it
            total, norm = tensor.sum(dtype=_FLOAT32), _vector_norm(tensor, dtype=_FLOAT32)
        else:  # the same ops without a keyword: torch parses no argument it does not need
            total, norm = tensor.sum(), _vector_norm(tensor)
        results.add(slot, tensor.shape, count, low, high, total, norm)
        self._count += 1
        if self._count >= HOLD_COUNT:
            self._read_held()

    def read(self) -> list[tuple[int, Value]]:
        """Each slot taken since the last `read`, with its summary (in no set order)."""
        self._read_held()
        found, self._found = self._found, []
        return found

    def _read_held(self) -> None:
        for results in self._kinds.values():
            self._found += results.read()
        self._kinds.clear()
        self._count = 0


class _Results:
    """Results of tensors of one dtype on one device, as the reductions left them (0-dim tensors)."""

    __slots__ = ("_highs", "_lows", "_name", "_norms", "_sums", "_taken")

    def __init__(self, dtype: torch.dtype) -> None:
        self._name = dtype_name(dtype)
        self._taken: list[tuple[int, torch.Size, int]] = []
        self._lows: list[torch.Tensor] = []
        self._highs: list[torch.Tensor] = []
        self._sums: list[torch.Tensor] = []
        self._norms: list[torch.Tensor] = []

    def add(
        self,
        slot: int,
        shape: torch.Size,
        count: int,
        low: torch.Tensor,
        high: torch.Tensor,
        total: torch.Tensor,
        norm: torch.Tensor,
    ) -> None:
        self._taken.append((slot, shape, count))
        self._lows.append(low)
        self._highs.append(high)
        self._sums.append(total)
        self._norms.append(norm)

    def read(self) -> list[tuple[int, Value]]:
        lows, highs, sums, norms = (
            torch.stack(parts).tolist() for parts in (self._lows, self._highs, self._sums, self._norms)
        )
        name = self._name
        shapes: dict[torch.Size, tuple[int, ...]] = {}  # one tuple per shape, however many gradients have it
        found = []
        taken = zip(self._taken, lows, highs, sums, norms, strict=True)
        for (slot, shape, count), low, high, total, norm in taken:
            kept = shapes.get(shape)
            if kept is None:
                kept = shapes[shape] = tuple(shape)
            found.append((slot, make_value(kept, name, None, low, high, total / count, norm)))
        return found


def is_dense(shape: torch.Size, strides: tuple[int, ...]) -> bool:
    """Whether a tensor of these strides fills its memory span without gaps or overlaps (a permute does).

    Args:
        shape: The tensor's shape.
        strides: Its strides, in elements.
    """
    expected = 1
    for stride, size in sorted(zip(strides, shape, strict=True)):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True
