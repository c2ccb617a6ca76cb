"""Statistics of many big tensors at once: few torch calls, each tensor's numbers exactly torch's own."""

from __future__ import annotations

import struct

import torch

from gradviz.capture.extremes import extremes


def big_statistics(datas: list[torch.Tensor]) -> list[tuple[float, float, float, float]]:
    """min, max, mean and norm of big tensors of one dtype and device, read back with one ``tolist()``.

    The same numbers as torch gives for each tensor alone (``t.min()``, ``t.mean()``, ...): each tensor
    is reduced alone, in place (no stacked copy: after the collector has run, copying costs more than
    the calls), and the scalars are read back together.

    Args:
        datas: Dense, detached, non-empty float32 or float64 tensors of one dtype and device.

    Returns:
        Per tensor, in order: min, max, mean, 2-norm.
    """
    first = datas[0]
    # On the CPU, Tensor.mean is the sum divided by the count in the tensor's dtype: the same numbers.
    on_cpu = first.device.type == "cpu"
    scalars: list[torch.Tensor] = []
    for data in datas:
        # A sum split among threads depends on their number: it runs as the user's own does.
        scalars += extremes(data) if not data.is_contiguous() else _aminmax(data)
        scalars.append(data.sum() if on_cpu else data.mean())
    scalars += torch._foreach_norm(datas)
    numbers = torch.stack(scalars).tolist()
    single = first.dtype == torch.float32
    norms_at = 3 * len(datas)
    found = []
    for number, data in enumerate(datas):
        low, high, mean = numbers[3 * number : 3 * number + 3]
        if on_cpu:
            mean = _mean(mean, data.numel(), single)
        found.append((low, high, mean, numbers[norms_at + number]))
    return found


_aminmax = torch.aminmax


_FLOAT32 = struct.Struct("f")


def _float32(number: float) -> float:
    """`number` rounded to the nearest float32, as a cast to torch.float32 rounds it."""
    return _FLOAT32.unpack(_FLOAT32.pack(number))[0]  # type: ignore[no-any-return]


def _mean(total: float, count: int, single: bool) -> float:
    """``sum / count`` as torch divides a float32 (`single`) or float64 sum by the element count.

    A float32 quotient worked out in float64 and then rounded to float32 is the float32 quotient itself.
    """
    if not single:
        return total / count
    # Counts up to 2**24 are float32 numbers already.
    return _float32(total / (count if count <= _EXACT_COUNT else _float32(count)))


_EXACT_COUNT = 1 << 24
