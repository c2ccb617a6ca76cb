"""Turn live tensors into `Value` summaries: the only place tensor contents become plain numbers."""

from __future__ import annotations

import math
import operator
from typing import Any

import torch

from gradviz.capture.bigstats import big_statistics
from gradviz.capture.extremes import extremes
from gradviz.capture.isolation import isolated
from gradviz.capture.records import make_value
from gradviz.capture.tensorrefs import TensorRef, tensor_ref
from gradviz.capture.valuepool import shared
from gradviz.model import Nested, Value

#: Tensors with at most this many elements keep their values.
MAX_VALUES = 100
_STRIDED = torch.strided
#: ``Tensor.detach`` itself: gradviz's own reads never go through a marker put on ``torch.Tensor``.
_detach = torch._C.TensorBase.detach


_DTYPE_NAMES: dict[torch.dtype, str] = {}


def dtype_name(dtype: torch.dtype) -> str:
    """Short dtype name: ``torch.float32`` -> ``"float32"``."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


def _freeze(values: Any) -> Nested:
    if not isinstance(values, list):
        return values  # type: ignore[no-any-return]
    if not values or not isinstance(values[0], list):
        return tuple(values)
    return tuple(_freeze(item) for item in values)


def _flat(values: Any, dims: int) -> list[Any]:
    """The elements of ``tolist()``'s nested lists, in order."""
    if dims == 0:
        return [values]
    for _ in range(dims - 1):
        values = [item for row in values for item in row]
    return values  # type: ignore[no-any-return]


def _stats(flat: list[Any]) -> tuple[float, float, float, float]:
    """min, max, mean and 2-norm as torch computes them: any NaN makes all four NaN."""
    total = sum(flat)
    # NaN is the one value not equal to itself; a NaN total may also be inf - inf.
    if total != total and any(number != number for number in flat):
        return (math.nan,) * 4
    return (
        float(min(flat)),
        float(max(flat)),
        total / len(flat),
        math.sqrt(sum(map(operator.mul, flat, flat))),
    )


def _tensor_stats(data: torch.Tensor) -> tuple[float, float, float, float]:
    """min, max, mean and 2-norm in as few passes as torch allows, never copying the tensor to float64.

    Floating tensors are reduced in their own dtype (half precision accumulates in float32), as the
    user's own ``t.mean()`` or ``clip_grad_norm_`` would. Integers and booleans (never gradients) have
    no float mean or norm of their own and are read as float64.
    """
    if not data.is_floating_point():
        data = data.to(torch.float64)
    low, high = extremes(data)
    wide = torch.float32 if data.element_size() < 4 else None
    mean = data.mean(dtype=wide)
    norm = torch.linalg.vector_norm(data, dtype=wide)
    return float(low.item()), float(high.item()), float(mean.item()), float(norm.item())


def _listed_value(shape: tuple[int, ...], dtype: str, listed: Any, with_stats: bool) -> Value:
    """A small tensor's `Value` from its ``tolist()``: the statistics from the values in hand."""
    values = _freeze(listed)
    if not with_stats:
        value = Value(shape=shape, dtype=dtype, values=values)
    else:
        low, high, mean, norm = _stats(_flat(listed, len(shape)))
        value = Value(shape=shape, dtype=dtype, values=values, min=low, max=high, mean=mean, norm=norm)
    return shared(value)


def summarize(tensor: torch.Tensor, *, max_values: int = MAX_VALUES, stats: bool = True) -> Value:
    """Summarize a tensor without keeping it alive.

    Full values are kept when it has at most `max_values` elements; statistics always (for real
    numeric dtypes). Works under any grad mode and never records into autograd.

    Args:
        tensor: Any dense tensor, on any device.
        max_values: Keep the values when the tensor has at most this many elements.
        stats: Whether to compute min/max/mean/norm (one pass over the data).

    Returns:
        A `Value` with shape, dtype, values (small tensors) and min/max/mean/norm. Statistics may be
        NaN or infinite when the tensor holds such values: that is worth seeing.
    """
    if not stats and tensor.numel() > max_values and tensor.layout == torch.strided:
        # Shape and dtype only: no tensor op at all (saved tensors of big graphs).
        return Value(shape=tuple(tensor.shape), dtype=dtype_name(tensor.dtype))
    with isolated():
        data = _detach(tensor)  # a detached tensor's ops are never recorded, whatever the grad mode
        shape = tuple(data.shape)
        dtype = dtype_name(data.dtype)
        if data.layout != _STRIDED or data.is_meta:
            return Value(shape=shape, dtype=dtype)
        count = data.numel()
        with_stats = stats and count > 0 and not data.is_complex()
        if count <= max_values:
            return _listed_value(shape, dtype, data.tolist(), with_stats)
        if not with_stats:
            return Value(shape=shape, dtype=dtype)
        low, high, mean, norm = _tensor_stats(data)
        return Value(shape=shape, dtype=dtype, min=low, max=high, mean=mean, norm=norm)


#: Dtypes whose statistics `summarize_many` reduces in one batch (their own precision, as `summarize`).
_BATCHED = frozenset({torch.float32, torch.float64})


def summarize_many(tensors: list[torch.Tensor | None]) -> list[Value | None]:
    """`summarize_optional` of each tensor, with a few round trips for all of them.

    The same numbers as `summarize` gives one by one. Big float32/float64 tensors get the same
    reductions, read back together instead of four ``.item()`` calls each; the values of small ones
    are read with one ``tolist()`` per dtype.

    Args:
        tensors: Tensors or None (a leaf without ``.grad``).

    Returns:
        One summary (or None) per entry, in order.
    """
    out: list[Value | None] = [None] * len(tensors)
    if all(tensor is None for tensor in tensors):  # no leaf holds a .grad (after zero_grad(), or none ran)
        return out
    big: dict[tuple[torch.device, torch.dtype], list[tuple[int, torch.Tensor]]] = {}
    small: dict[tuple[torch.device, torch.dtype], list[tuple[int, torch.Tensor]]] = {}
    with isolated():
        for position, tensor in enumerate(tensors):
            if tensor is None:
                continue
            count = tensor.numel()
            if (
                tensor.dtype not in _BATCHED
                or tensor.layout != _STRIDED
                or tensor.is_meta
                or not count
                or (count > MAX_VALUES and not tensor.is_contiguous())  # `summarize` reads it without a copy
            ):
                out[position] = summarize(tensor)
                continue
            # Tensor.detach itself: a marker the watch may put on torch.Tensor is not for gradviz's reads.
            data = _detach(tensor) if tensor.requires_grad else tensor
            groups = big if count > MAX_VALUES else small
            groups.setdefault((tensor.device, tensor.dtype), []).append((position, data))
        for group in small.values():
            _summarize_small(group, out)
        for group in big.values():
            _summarize_big(group, out)
    return out


def _summarize_small(group: list[tuple[int, torch.Tensor]], out: list[Value | None]) -> None:
    """Values and statistics of small tensors of one dtype, from one ``tolist()`` of them all."""
    flat = torch.cat([data if data.dim() == 1 else data.reshape(-1) for _, data in group]).tolist()
    dtype = dtype_name(group[0][1].dtype)  # one dtype per group
    start = 0
    for position, data in group:
        shape = tuple(data.shape)
        end = start + data.numel()
        listed = flat[start:end]
        start = end
        low, high, mean, norm = _stats(listed)
        values = tuple(listed) if len(shape) == 1 else _nest(listed, shape)
        out[position] = shared(make_value(shape, dtype, values, low, high, mean, norm))


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Nested:
    """``_freeze(tensor.tolist())`` from the flat elements: nested tuples of `shape` (a number for 0-d)."""
    if not shape:
        return flat[0]  # type: ignore[no-any-return]
    if len(shape) == 1:
        return tuple(flat)
    step = len(flat) // shape[0]
    return tuple(_nest(flat[row * step : (row + 1) * step], shape[1:]) for row in range(shape[0]))


def _summarize_big(group: list[tuple[int, torch.Tensor]], out: list[Value | None]) -> None:
    """min, max, mean and norm of big tensors of one dtype and device, read back with one ``tolist()``."""
    found = big_statistics([data for _, data in group])
    for (position, data), (low, high, mean, norm) in zip(group, found, strict=True):
        out[position] = make_value(tuple(data.shape), dtype_name(data.dtype), None, low, high, mean, norm)


class SummaryCache:
    """Summaries of one backward call's gradients, each tensor summarized once.

    The vJ a node sends is, when nothing else adds to it, the very tensor the next node receives as
    its v: the engine hands the same tensor on. Entries hold a weak reference, so a freed gradient
    is neither kept alive nor mistaken for a new tensor that reuses its id.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[TensorRef[torch.Tensor], int, Value]] = {}
        self.hits = 0

    def __call__(self, tensor: torch.Tensor | None) -> Value | None:
        """`summarize_optional`, answered from the cache for a tensor seen unchanged before."""
        if tensor is None:
            return None
        key = id(tensor)
        entry = self._seen.get(key)
        version = tensor._version
        if entry is not None and entry[0]() is tensor and entry[1] == version:
            self.hits += 1
            return entry[2]
        value = summarize(tensor)
        self._seen[key] = (tensor_ref(tensor), version, value)
        return value


def summarize_optional(tensor: torch.Tensor | None) -> Value | None:
    """`summarize`, passing None through (autograd uses None for "no gradient")."""
    if tensor is None:
        return None
    return summarize(tensor)


class Snapshot:
    """A small tensor's values as read at one moment (plain data); its `Value` is made when first asked for.

    The ledger reads small parameters at every step but keeps the entries of only a few steps: reading
    the values costs a fraction of summarizing them. Snapshots are equal when their values are.
    """

    __slots__ = ("_value", "dtype", "listed", "numeric", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: str, listed: Any, numeric: bool) -> None:
        self.shape = shape
        self.dtype = dtype
        self.listed = listed
        self.numeric = numeric
        self._value: Value | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.shape == other.shape and self.dtype == other.dtype and self.listed == other.listed

    __hash__ = None  # type: ignore[assignment]

    @property
    def value(self) -> Value:
        """The same `Value` as `summarize` gives for the tensor as it was."""
        if self._value is None:
            with_stats = self.numeric and math.prod(self.shape) > 0
            self._value = _listed_value(self.shape, self.dtype, self.listed, with_stats)
        return self._value


def snapshot(tensor: torch.Tensor) -> Snapshot:
    """Read a small dense tensor's values now (see `Snapshot`)."""
    with isolated():
        data = _detach(tensor)
        if data.is_meta:  # a shape and no data: nothing to read, its summary says so
            shot = Snapshot(tuple(data.shape), dtype_name(data.dtype), None, False)
            shot._value = summarize(data)
            return shot
        return Snapshot(tuple(data.shape), dtype_name(data.dtype), data.tolist(), not data.is_complex())
