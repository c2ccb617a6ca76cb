"""Read a node's saved tensors and fingerprint their contents, cheaply.

A ``.data`` edit (or any write that bypasses the version counter) changes a tensor that a backward
node saved without autograd noticing, so the only way to see it is to remember what the saved tensor
held at forward time and compare when backward reaches the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

#: Tensors with at most this many elements are fingerprinted by an exact copy.
EXACT_NUMEL = 256
_SAMPLE = 64
_CUSTOM_FUNCTION = "saved_tensors"
_names_by_type: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a saved tensor held when its node was created.

    Attributes:
        tensor_id: gradviz id of the tensor that was saved, where known.
        version: Its ``_version`` then.
        data_ptr: Address of its data then (an ``x.data = ...`` assignment changes it).
        shape: Its shape then.
        contents: An exact copy (small tensors) or float64 sum, norm and a strided sample.
        exact: Whether ``contents`` is an exact copy.
    """

    tensor_id: int | None
    version: int
    data_ptr: int
    shape: tuple[int, ...]
    contents: torch.Tensor
    exact: bool


def saved_names(grad_fn: Any) -> tuple[str, ...]:
    """Names of the saved tensors of a node, without ``_saved_`` (cached per node type: dir() is slow).

    Args:
        grad_fn: An autograd Node.

    Returns:
        The attribute suffixes (``"self"``, ``"other"``, ``"result"``), or ``("saved_tensors",)``
        for a custom ``autograd.Function`` node.
    """
    kind = type(grad_fn)
    names = _names_by_type.get(kind)
    if names is None:
        if isinstance(grad_fn, torch.autograd.function.BackwardCFunction):
            names = (_CUSTOM_FUNCTION,)
        else:
            names = tuple(attr[7:] for attr in dir(grad_fn) if attr.startswith("_saved_"))
        _names_by_type[kind] = names
    return names


def read_saved(grad_fn: Any) -> list[tuple[str, torch.Tensor]]:
    """The node's saved tensors now, as (name, tensor); non-tensor saved values are left out.

    Args:
        grad_fn: An autograd Node whose saved tensors have not been freed.

    Returns:
        Name and tensor pairs, ``saved_tensors[i]`` for a custom Function.

    Raises:
        RuntimeError: When the buffers were freed or a tensor was modified in place since it was
            saved (autograd's own check).
    """
    found: list[tuple[str, torch.Tensor]] = []
    for name in saved_names(grad_fn):
        if name == _CUSTOM_FUNCTION:
            for index, tensor in enumerate(grad_fn.saved_tensors):
                if isinstance(tensor, torch.Tensor):
                    found.append((f"saved_tensors[{index}]", tensor))
            continue
        value = getattr(grad_fn, "_saved_" + name)
        if isinstance(value, torch.Tensor):
            found.append((name, value))
    return found


def _contents(tensor: torch.Tensor) -> tuple[torch.Tensor, bool]:
    data = tensor.detach()
    if data.numel() <= EXACT_NUMEL:
        return data.clone(), True
    flat = data.reshape(-1)
    stride = max(1, flat.numel() // _SAMPLE)
    as_double = flat.to(torch.float64) if not flat.is_complex() else torch.view_as_real(flat).double()
    stats = torch.stack([as_double.sum(), torch.linalg.vector_norm(as_double)])
    sample = flat[::stride][:_SAMPLE].to(torch.float64)
    return torch.cat([stats, sample.reshape(-1)]), False


def fingerprint(tensor: torch.Tensor, tensor_id: int | None) -> Fingerprint | None:
    """Fingerprint a saved tensor, or None for one whose contents cannot be read (meta, sparse).

    Args:
        tensor: The tensor a node saved.
        tensor_id: gradviz id of the tensor, where known.

    Returns:
        Its fingerprint.
    """
    if tensor.layout != torch.strided or tensor.is_meta or tensor.dtype == torch.bool:
        return None
    contents, exact = _contents(tensor)
    return Fingerprint(
        tensor_id=tensor_id,
        version=tensor._version,
        data_ptr=tensor.data_ptr(),
        shape=tuple(tensor.shape),
        contents=contents,
        exact=exact,
    )


def has_changed(before: Fingerprint, tensor: torch.Tensor) -> bool:
    """Whether a saved tensor now holds other values than its fingerprint recorded.

    Args:
        before: The fingerprint taken when the node was created.
        tensor: The same saved tensor, read back now.

    Returns:
        True when the contents (or the storage, after an ``x.data = ...``) differ.
    """
    if tuple(tensor.shape) != before.shape:
        return True
    contents, _ = _contents(tensor)
    if contents.shape != before.contents.shape:
        return True
    return not torch.allclose(contents, before.contents, rtol=0.0, atol=0.0, equal_nan=True)
