"""Turn live tensors into `Value` summaries: the only place tensor contents become plain numbers."""

from __future__ import annotations

import math
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.model import Nested, Value

#: Tensors with at most this many elements keep their values.
MAX_VALUES = 100


def dtype_name(dtype: torch.dtype) -> str:
    """Short dtype name: ``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def _freeze(values: Any) -> Nested:
    if isinstance(values, list):
        return tuple(_freeze(item) for item in values)
    return values  # type: ignore[no-any-return]


def _flatten(listed: Any) -> list[float]:
    if not isinstance(listed, list):
        return [float(listed)]
    flat: list[float] = []
    stack = [listed]
    while stack:
        for item in stack.pop():
            if isinstance(item, list):
                stack.append(item)
            else:
                flat.append(float(item))
    return flat


def _stats(flat: list[float]) -> tuple[float, float, float, float]:
    """min, max, mean and 2-norm as torch computes them: any NaN makes all four NaN."""
    if any(math.isnan(number) for number in flat):
        return (math.nan,) * 4
    return min(flat), max(flat), sum(flat) / len(flat), math.sqrt(sum(number * number for number in flat))


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
    with isolated(), torch.no_grad():
        data = tensor.detach()
        shape = tuple(int(size) for size in data.shape)
        dtype = dtype_name(data.dtype)
        if data.layout != torch.strided or data.is_meta:
            return Value(shape=shape, dtype=dtype)
        values: Nested | None = None
        if data.numel() <= max_values:
            listed = data.cpu().tolist()
            values = _freeze(listed)
            if stats and data.numel() > 0 and not data.is_complex():
                # Small tensors: the statistics from the values already in hand beat four torch ops.
                low, high, mean, norm = _stats(_flatten(listed))
                return Value(shape=shape, dtype=dtype, values=values, min=low, max=high, mean=mean, norm=norm)
        if not stats or data.numel() == 0 or data.is_complex():
            return Value(shape=shape, dtype=dtype, values=values)
        as_float = data.to(torch.float64)
        numbers = torch.stack(
            [as_float.min(), as_float.max(), as_float.mean(), torch.linalg.vector_norm(as_float)]
        ).tolist()
        low, high, mean, norm = (float(number) for number in numbers)
        return Value(shape=shape, dtype=dtype, values=values, min=low, max=high, mean=mean, norm=norm)


def summarize_optional(tensor: torch.Tensor | None) -> Value | None:
    """`summarize`, passing None through (autograd uses None for "no gradient")."""
    if tensor is None:
        return None
    return summarize(tensor)
