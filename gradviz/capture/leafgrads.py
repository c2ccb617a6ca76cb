"""The leaves' ``.grad`` of one captured call, summarised together: before the call and after it.

The same numbers and records as `gradviz.capture.gradbatch.summarize_all` gives (small gradients of one
shape stacked and reduced row by row, big ones reduced one by one), with fewer tensor calls: a model's
many same-shaped ``.grad`` are stacked a quarter MiB at a time rather than 64 KiB, the norms of the big
ones on the CPU come from one ``_foreach_norm``, and each leaf costs a few attribute reads. A row is
reduced whole by one thread however many rows a stack holds, so a row's statistics do not depend on the
size of its stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.bigreduce import HOLD_COUNT, BigReductions, make_value
from gradviz.capture.gradbatch import STACK_NUMEL, _rows_values
from gradviz.capture.isolation import isolated
from gradviz.capture.summary import dtype_name, summarize
from gradviz.model import Value

#: Bytes of same-shaped small gradients stacked at once: a temporary copy, freed before the next stack.
PIECE_BYTES = 256 * 1024
_FLOATS = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
_STRIDED = torch.strided
_detach = torch._C.TensorBase.detach
_stack = torch.stack
_aminmax = torch.aminmax
#: Dtypes whose big gradients are reduced in their own precision with no widening (`BigReductions`).
_WHOLE = frozenset({torch.float32, torch.float64})


def leaf_grad_values(grads: Sequence[torch.Tensor | None]) -> list[Value | None]:
    """`summarize_all` of the leaves' ``.grad``: None stays None, each tensor gets its summary.

    Args:
        grads: Each leaf's ``.grad`` (None where it has none).

    Returns:
        One summary (or None) per entry, in order; equal to what `summarize_all` gives.
    """
    out: list[Value | None] = [None] * len(grads)
    groups: dict[tuple[Any, ...], list[int]] = {}
    large: list[int] = []
    with isolated():
        for position, grad in enumerate(grads):
            if grad is None:
                continue
            dtype = grad.dtype
            count = grad.numel()
            if dtype not in _FLOATS or grad.layout != _STRIDED or grad.is_meta or not count:
                out[position] = summarize(grad)
            elif count > STACK_NUMEL:
                large.append(position)
            else:
                key = (grad.device, dtype, grad.shape)
                group = groups.get(key)
                if group is None:
                    groups[key] = [position]
                else:
                    group.append(position)
        for (_, dtype, size), positions in groups.items():
            shape = tuple(size)
            numel = grads[positions[0]].numel()  # type: ignore[union-attr]
            chunk = max(1, PIECE_BYTES // (numel * dtype.itemsize))
            for start in range(0, len(positions), chunk):
                part = positions[start : start + chunk]
                datas = [_detached(grads[position]) for position in part]
                rows = _stack(datas).view(len(part), numel)
                for position, value in zip(part, _rows_values(rows, shape, dtype), strict=True):
                    out[position] = value
        if large:
            _reduce_large(grads, large, out)
    return out


def _reduce_large(grads: Sequence[Any], large: list[int], out: list[Value | None]) -> None:
    """`BigReductions`' records of the big gradients: on the CPU, the norms of all contiguous float32
    (or float64) ones in one ``_foreach_norm`` (torch computes each as ``vector_norm`` of the tensor
    alone), and every number read back with one ``tolist()``."""
    big = BigReductions()
    together: dict[torch.dtype, list[tuple[int, torch.Tensor]]] = {}
    for position in large:
        grad = _detached(grads[position])
        if grad.dtype in _WHOLE and grad.is_cpu and grad.is_contiguous():
            together.setdefault(grad.dtype, []).append((position, grad))
        else:
            big.take(position, grad)
    for position, value in big.read():
        out[position] = value
    for dtype, all_taken in together.items():
        for start in range(0, len(all_taken), HOLD_COUNT):  # the 0-dim results held at once stay few
            _read_together(dtype, all_taken[start : start + HOLD_COUNT], out)


def _read_together(
    dtype: torch.dtype, taken: list[tuple[int, torch.Tensor]], out: list[Value | None]
) -> None:
    datas = [grad for _, grad in taken]
    scalars: list[torch.Tensor] = []
    for data in datas:
        scalars += _aminmax(data)
        scalars.append(data.sum())
    scalars += torch._foreach_norm(datas)
    numbers = _stack(scalars).tolist()
    name, norms_at = dtype_name(dtype), 3 * len(datas)
    for at, (position, data) in enumerate(taken):
        low, high, total = numbers[3 * at : 3 * at + 3]
        mean, norm = total / data.numel(), numbers[norms_at + at]  # BigReductions' mean: the sum / count
        out[position] = make_value(tuple(data.shape), name, None, low, high, mean, norm)


def _detached(grad: Any) -> torch.Tensor:
    return _detach(grad) if grad.requires_grad else grad
