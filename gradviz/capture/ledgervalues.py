"""Values as the ledger records them: snapshots shown as `Value`, marks of a leaf's data, a call's loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.summary import Snapshot, _flat, dtype_name, snapshot
from gradviz.model import Value

_STRIDED = torch.strided
#: Per dtype: its short name, and whether its values are numbers with statistics (not complex).
_KINDS: dict[torch.dtype, tuple[str, bool]] = {}


def read(tensor: torch.Tensor) -> Snapshot:
    """`snapshot` of a small tensor, for a caller already inside `isolated()` (no second isolation)."""
    if tensor.layout is not _STRIDED or tensor.is_meta:
        return snapshot(tensor)
    dtype = tensor.dtype  # read at every step past the budget: the name from the cache, no call
    kind = _KINDS.get(dtype)
    if kind is None:
        kind = _KINDS[dtype] = (dtype_name(dtype), not dtype.is_complex)
    return Snapshot(tuple(tensor.shape), kind[0], tensor.tolist(), kind[1])


def shown(value: Value | Snapshot | None) -> Value | None:
    """A `Value` as recorded, or made from the values a `Snapshot` read."""
    return value.value if isinstance(value, Snapshot) else value


def nonzero(value: Value | Snapshot) -> bool:
    """Whether a gradient as recorded held anything (a NaN counts), without making a snapshot's `Value`."""
    if isinstance(value, Snapshot):
        if value.listed is None:  # no values read (a big gradient): its norm, where one was taken
            return value.value.norm != 0.0
        return any(item != 0 for item in _flat(value.listed, len(value.shape)))
    return value.norm != 0.0


def mark(leaf: torch.Tensor) -> object:
    """What moves when a leaf's values are replaced or changed in place, but not through ``.data``."""
    try:
        return (leaf._version, leaf.data_ptr())
    except RuntimeError:  # a tensor without storage: never the same
        return object()


def loss_of(roots: Sequence[Any]) -> Snapshot | None:
    """A backward call's loss: its first root, when that is one number (the caller is isolated)."""
    root = roots[0] if roots else None
    if isinstance(root, torch.Tensor) and root.numel() == 1:
        return read(root)
    return None
