"""Turn live tensors into `Value` summaries: the only place tensor contents become plain numbers."""

from __future__ import annotations

import math
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.tensorrefs import TensorRef, tensor_ref
from gradviz.model import Nested, Value

#: Tensors with at most this many elements keep their values.
MAX_VALUES = 100


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


def _stats(flat: list[Any]) -> tuple[float, float, float, float]:
    """min, max, mean and 2-norm as torch computes them: any NaN makes all four NaN."""
    if any(number != number for number in flat):  # NaN is the one value not equal to itself
        return (math.nan,) * 4
    return (
        float(min(flat)),
        float(max(flat)),
        sum(flat) / len(flat),
        math.sqrt(sum(number * number for number in flat)),
    )


def _tensor_stats(data: torch.Tensor) -> tuple[float, float, float, float]:
    """min, max, mean and 2-norm in as few passes as torch allows, never copying the tensor to float64.

    Floating tensors are reduced in their own dtype (half precision accumulates in float32), as the
    user's own ``t.mean()`` or ``clip_grad_norm_`` would. Integers and booleans (never gradients) have
    no float mean or norm of their own and are read as float64.
    """
    if not data.is_floating_point():
        data = data.to(torch.float64)
    low, high = torch.aminmax(data)
    wide = torch.float32 if data.element_size() < 4 else None
    mean = data.mean(dtype=wide)
    norm = torch.linalg.vector_norm(data, dtype=wide)
    return float(low.item()), float(high.item()), float(mean.item()), float(norm.item())


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
        data = tensor.detach()  # a detached tensor's ops are never recorded, whatever the grad mode
        shape = tuple(data.shape)
        dtype = dtype_name(data.dtype)
        if data.layout != torch.strided or data.is_meta:
            return Value(shape=shape, dtype=dtype)
        count = data.numel()
        with_stats = stats and count > 0 and not data.is_complex()
        if count <= max_values:
            values = _freeze(data.tolist())
            if not with_stats:
                return Value(shape=shape, dtype=dtype, values=values)
            # Small tensors: the statistics from the values in hand beat four torch ops.
            low, high, mean, norm = _stats(data.reshape(-1).tolist())
            return Value(shape=shape, dtype=dtype, values=values, min=low, max=high, mean=mean, norm=norm)
        if not with_stats:
            return Value(shape=shape, dtype=dtype)
        low, high, mean, norm = _tensor_stats(data)
        return Value(shape=shape, dtype=dtype, min=low, max=high, mean=mean, norm=norm)


#: Dtypes whose statistics `summarize_many` reduces in one batch (their own precision, as `summarize`).
_BATCHED = frozenset({torch.float32, torch.float64})


def summarize_many(tensors: list[torch.Tensor | None]) -> list[Value | None]:
    """`summarize_optional` of each tensor, with one round trip for the statistics of all big ones.

    The same numbers as `summarize` gives one by one: big float32/float64 tensors get the same
    reductions, read back together instead of four ``.item()`` calls each.

    Args:
        tensors: Tensors or None (a leaf without ``.grad``).

    Returns:
        One summary (or None) per entry, in order.
    """
    out: list[Value | None] = [None] * len(tensors)
    big: dict[torch.device, list[tuple[int, torch.Tensor]]] = {}
    with isolated():
        for position, tensor in enumerate(tensors):
            if tensor is None:
                continue
            if (
                tensor.dtype in _BATCHED
                and tensor.layout == torch.strided
                and not tensor.is_meta
                and tensor.numel() > MAX_VALUES
            ):
                # Tensor.detach itself: a marker the watch may put on torch.Tensor is not for gradviz's reads.
                big.setdefault(tensor.device, []).append((position, torch._C.TensorBase.detach(tensor)))
            else:
                out[position] = summarize(tensor)
        for group in big.values():
            reductions: list[torch.Tensor] = []
            for _, data in group:
                reductions.extend(torch.aminmax(data))
                reductions.append(data.mean())
            reductions.extend(torch._foreach_norm([data for _, data in group]))
            numbers = torch.stack(reductions).tolist()
            norms = numbers[3 * len(group) :]
            for number, (position, data) in enumerate(group):
                low, high, mean = numbers[3 * number : 3 * number + 3]
                out[position] = Value(
                    shape=tuple(data.shape),
                    dtype=dtype_name(data.dtype),
                    min=low,
                    max=high,
                    mean=mean,
                    norm=norms[number],
                )
    return out


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
