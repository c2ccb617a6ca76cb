"""The smallest and largest element of a tensor, without copying it whole.

``torch.aminmax`` (and ``min`` / ``max``) copies a non-contiguous tensor to a contiguous one before
reducing it: summarising the 200 MB gradient of a transposed weight cost another 200 MB of peak memory.
"""

from __future__ import annotations

import torch

#: Elements per piece when the extremes of a tensor with gaps (a slice) are read piece by piece.
_PIECE = 1 << 18


def _for_extremes(data: torch.Tensor) -> torch.Tensor:
    """The elements in memory order as a 1-D view when they fill their span (a transpose, a permute).

    ``torch.aminmax`` copies a non-contiguous tensor whole before reducing it (+200 MB for a 200 MB
    transposed gradient); min and max do not depend on the order, so a dense span is read as it lies.
    A tensor with gaps or overlaps is returned as it is.
    """
    if data.is_contiguous():
        return data
    if 0 in data.stride():  # an expanded dimension repeats the same elements: one copy of them is enough
        data = data[tuple(0 if stride == 0 else slice(None) for stride in data.stride())]
        if data.is_contiguous():
            return data
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(data.shape, data.stride(), strict=True) if sz != 1):
        if stride != expected:
            return data
        expected *= size
    return torch.as_strided(data, (data.numel(),), (1,), data.storage_offset())


def _pieces(data: torch.Tensor) -> list[torch.Tensor]:
    """Views of at most about `_PIECE` elements along the first dimensions, covering `data`."""
    if data.dim() == 0 or data.numel() <= _PIECE:
        return [data]
    per_row = data.numel() // data.shape[0]
    if per_row > _PIECE:
        return [piece for row in data for piece in _pieces(row)]
    step = max(1, _PIECE // per_row)
    return [data[start : start + step] for start in range(0, data.shape[0], step)]


def extremes(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.aminmax`` of a tensor without a whole copy of it: a slice is read a piece at a time.

    Args:
        data: A dense, detached, non-empty tensor.

    Returns:
        Its smallest and largest element, as 0-dim tensors (NaN when it holds a NaN).
    """
    flat = _for_extremes(data)
    if flat.is_contiguous() or flat.numel() <= _PIECE:
        low, high = torch.aminmax(flat)
        return low, high
    pieces = _pieces(flat)
    # Results go into one buffer made first: small tensors kept between the pieces' copies would
    # fragment the heap so that no copy reuses the last one's memory.
    found = torch.empty((2, len(pieces)), dtype=data.dtype, device=data.device)
    for number, piece in enumerate(pieces):
        low, high = torch.aminmax(piece)
        found[0, number] = low
        found[1, number] = high
        del low, high
    return found[0].amin(), found[1].amax()
