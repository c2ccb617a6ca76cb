"""Statistics of many big tensors at once: few torch calls, each tensor's numbers exactly torch's own."""

from __future__ import annotations

import struct

import torch

from gradviz.capture.extremes import extremes


def big_statistics(datas: list[torch.Tensor]) -> list[tuple[float, float, float, float]]:
    """min, max, mean and norm of big tensors of one dtype and device, read back with one ``tolist()``.

    The same numbers as torch gives for each tensor alone (``t.min()``, ``t.mean()``, ...).

    Args:
        datas: Dense, detached, non-empty float32 or float64 tensors of one dtype and device.

    Returns:
        Per tensor, in order: min, max, mean, 2-norm.
    """
    first = datas[0]
    # On the CPU, Tensor.mean is the sum divided by the count in the tensor's dtype: the same numbers.
    on_cpu = first.device.type == "cpu"
    # A sum split among threads depends on their number: these (and the norms) run as the user's own do.
    sums = {number: data.sum() for number, data in enumerate(datas) if on_cpu and data.numel() >= _ONE_PASS}
    norms = torch.stack(torch._foreach_norm(datas))
    numbers, places, norms_at = _reductions(datas, on_cpu, sums, norms)
    single = first.dtype == torch.float32
    found = []
    for number, data in enumerate(datas):
        at, step = places[number]
        low, high, mean = numbers[at], numbers[at + step], numbers[at + 2 * step]
        if on_cpu:
            mean = _mean(mean, data.numel(), single)
        found.append((low, high, mean, numbers[norms_at + number]))
    return found


def _reductions(
    datas: list[torch.Tensor], on_cpu: bool, sums: dict[int, torch.Tensor], norms: torch.Tensor
) -> tuple[list[float], list[tuple[int, int]], int]:
    """Each tensor's min, max and sum (mean off the CPU), then every norm, as one list of numbers.

    Returns:
        The numbers; per tensor, where its min is and the step to its max and sum; where the norms start.
    """
    parts: list[torch.Tensor] = []
    places: list[tuple[int, int]] = [(0, 0)] * len(datas)
    rows = _rows(datas) if on_cpu else []
    start = 0
    for batch in rows:
        # Rows of one stacked copy: torch reduces each row exactly as it reduces the tensor alone.
        stacked = torch.stack([datas[number].reshape(-1) for number in batch])
        low, high = torch.aminmax(stacked, dim=1)
        parts += (low, high, stacked.sum(dim=1))
        for row, number in enumerate(batch):
            places[number] = (start + row, len(batch))
        start += 3 * len(batch)
    batched = {number for batch in rows for number in batch}
    singles: list[torch.Tensor] = []
    for number, data in enumerate(datas):
        if number not in batched:
            places[number] = (start + len(singles), 1)
            singles.extend(extremes(data))
            singles.append(sums[number] if number in sums else data.sum() if on_cpu else data.mean())
    if singles:
        parts.append(torch.stack(singles))
    parts.append(norms)
    return torch.cat(parts).tolist(), places, start + len(singles)


#: Tensors under this many elements are reduced by one thread, each in one pass (torch's grain size).
_ONE_PASS = 32_768
#: Tensors of at most this many elements are stacked: for bigger ones, the copy costs more than the calls.
_MAX_ROW = 1024
#: At most this many elements are copied into one stack of equal-sized tensors.
_MAX_STACK = 1 << 20


def _rows(datas: list[torch.Tensor]) -> list[list[int]]:
    """Batches of equal-sized contiguous tensors to reduce as the rows of one stack (two or more each)."""
    by_size: dict[int, list[int]] = {}
    for number, data in enumerate(datas):
        count = data.numel()
        if count <= _MAX_ROW and data.is_contiguous():
            by_size.setdefault(count, []).append(number)
    batches: list[list[int]] = []
    for count, numbers in by_size.items():
        step = max(2, _MAX_STACK // count)
        batches += [numbers[at : at + step] for at in range(0, len(numbers), step) if len(numbers) - at > 1]
    return batches


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
    return _float32(total / _float32(count))
