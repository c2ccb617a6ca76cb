"""Read a node's saved tensors and fingerprint their contents, cheaply.

A ``.data`` edit (or any write that bypasses the version counter) changes a tensor that a backward
node saved without autograd noticing, so the only way to see it is to remember what the saved tensor
held at forward time and compare when backward reaches the node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.origin import origin_of
from gradviz.capture.unpack import has_unpack_hook

#: Tensors with at most this many elements are fingerprinted by an exact copy.
EXACT_NUMEL = 1024
_SAMPLE = 64
_CUSTOM_FUNCTION = "saved_tensors"
# Saved values that are never tensors (sizes, strides, scalars): skipped without reading them.
_NOT_TENSORS = ("_sym_sizes", "_sym_strides", "_sizes", "_strides", "_sym_argsize_0", "alpha", "beta", "_dim")
_names_by_type: dict[type, tuple[str, ...]] = {}
_detach = torch._C.TensorBase.detach


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a saved tensor held when its node was created.

    Attributes:
        tensor_id: gradviz id of the tensor that was saved, where known.
        version: Its ``_version`` then.
        data_ptr: Address of its data then (an ``x.data = ...`` assignment changes it).
        shape: Its shape then.
        contents: An exact copy (small tensors), or the sum and a strided sample of the elements.
        exact: Whether ``contents`` is an exact copy.
        storage: Address of the storage it lives in (a write elsewhere cannot change it).
    """

    tensor_id: int | None
    version: int
    data_ptr: int
    shape: tuple[int, ...]
    contents: tuple[torch.Tensor, ...]
    exact: bool
    storage: int | None = None


def storage_of(tensor: torch.Tensor) -> int | None:
    """Address of the memory a tensor lives in, or None where it has none to read (sparse, meta)."""
    try:
        return int(tensor.untyped_storage().data_ptr())
    except Exception:
        return None


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
            names = tuple(
                attr[7:]
                for attr in dir(grad_fn)
                if attr.startswith("_saved_") and not attr.endswith(_NOT_TENSORS)
            )
        _names_by_type[kind] = names
    return names


def read_saved(grad_fn: Any, *, probe: bool = True) -> list[tuple[str, torch.Tensor]]:
    """The node's saved tensors now, as (name, tensor); non-tensor saved values are left out.

    Args:
        grad_fn: An autograd Node whose saved tensors have not been freed.
        probe: Whether to look for unpack hooks first (False only for a node made just now, while no
            saved-tensor hooks were pushed).

    Returns:
        Name and tensor pairs, ``saved_tensors[i]`` for a custom Function. Empty for a node whose
        saved tensors run an unpack hook when read (checkpointing, offloading): those are not read.

    Raises:
        RuntimeError: When the buffers were freed or a tensor was modified in place since it was
            saved (autograd's own check).
    """
    if probe and _may_have_unpack_hook(grad_fn) and has_unpack_hook(grad_fn):
        return []
    with isolated():  # unpacking a saved output makes a new tensor: not the user's op
        return read_names(grad_fn, saved_names(grad_fn))


def _may_have_unpack_hook(grad_fn: Any) -> bool:
    # Saved tensors made with no hooks pushed, or fingerprinted, have no unpack hook (cheap check).
    origin = origin_of(grad_fn)
    return origin is None or not (origin.readable or origin.fingerprints)


def read_names(grad_fn: Any, names: tuple[str, ...]) -> list[tuple[str, torch.Tensor]]:
    """`read_saved` of the given `saved_names`, without the probe for unpack hooks or `isolated()`.

    Raises:
        RuntimeError: As `read_saved`.
    """
    found: list[tuple[str, torch.Tensor]] = []
    for name in names:
        if name == _CUSTOM_FUNCTION:
            for index, tensor in enumerate(grad_fn.saved_tensors):
                if isinstance(tensor, torch.Tensor):
                    found.append((f"saved_tensors[{index}]", tensor))
            continue
        value = getattr(grad_fn, "_saved_" + name)
        if isinstance(value, torch.Tensor):
            found.append((name, value))
        elif isinstance(value, (tuple, list)):  # e.g. the inputs of stack() or cat()
            found.extend(
                (f"{name}[{i}]", item) for i, item in enumerate(value) if isinstance(item, torch.Tensor)
            )
    return found


def _in_memory_order(data: torch.Tensor) -> torch.Tensor:
    """The elements as laid out in memory, 1-D: a view when they fill their span (a transpose, a permute)."""
    if data.is_contiguous():
        return data
    expected = 1
    dims = sorted((stride, size) for size, stride in zip(data.shape, data.stride(), strict=True) if size != 1)
    for stride, size in dims:
        if stride != expected:
            return data.reshape(-1)  # gaps or overlaps (a slice, an expand): a copy in logical order
        expected *= size
    return torch.as_strided(data, (data.numel(),), (1,), data.storage_offset())


def _contents(tensor: torch.Tensor, *, keep: bool = True) -> tuple[tuple[torch.Tensor, ...], bool]:
    """An exact copy of a small tensor, else its sum and a strided sample; `keep`: copies, not views."""
    data = _detach(tensor)
    if data.numel() <= EXACT_NUMEL:
        return (data.clone() if keep else data,), True
    flat = _in_memory_order(data)
    # A sum catches scaling and most edits; a strided sample catches the rest, in three cheap ops.
    step = flat.numel() // _SAMPLE
    sample = torch.as_strided(flat, (_SAMPLE,), (step,), flat.storage_offset())
    return (flat.sum(), sample.clone() if keep else sample), False


def _same(now: torch.Tensor, then: torch.Tensor) -> bool:
    # torch.equal is one op; NaN, never equal to itself, needs the slower comparison.
    return now.shape == then.shape and (
        torch.equal(now, then) or torch.allclose(now, then, rtol=0.0, atol=0.0, equal_nan=True)
    )


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
        storage=storage_of(tensor),
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
    contents, _ = _contents(tensor, keep=False)
    if len(contents) != len(before.contents):
        return True
    return not all(_same(now, then) for now, then in zip(contents, before.contents, strict=True))


#: Fingerprints already taken, by (tensor id, _version, data_ptr): a tensor saved by several nodes
#: is read once. Cleared whenever a ``.data`` write is seen, the one change none of the three shows.
FingerprintCache = dict[tuple[int, int, int], "Fingerprint | None"]


def fingerprints_of(
    grad_fn: Any,
    id_of: Callable[[torch.Tensor], int | None],
    nearby: Sequence[torch.Tensor],
    cache: FingerprintCache | None = None,
    *,
    probe: bool = True,
) -> tuple[tuple[str, Fingerprint], ...]:
    """Fingerprint every saved tensor of a node just created.

    Args:
        grad_fn: The new node.
        id_of: gradviz's id for a tensor, or None.
        nearby: The op's inputs and outputs, to name a saved output (unpacked as a new tensor object).
        cache: Fingerprints taken earlier, reused while the tensor's version and storage are unchanged.
        probe: Passed to `read_saved`.

    Returns:
        (saved name, fingerprint) pairs.
    """
    prints: list[tuple[str, Fingerprint]] = []
    for name, saved in read_saved(grad_fn, probe=probe):
        tensor_id = id_of(saved)
        address = saved.data_ptr()
        if tensor_id is None:
            for candidate in nearby:
                if candidate.data_ptr() == address and candidate.shape == saved.shape:
                    tensor_id = id_of(candidate)
                    break
        key = (tensor_id, saved._version, address) if tensor_id is not None else None
        if cache is not None and key is not None and key in cache:
            taken = cache[key]
        else:
            taken = fingerprint(saved, tensor_id)
            if cache is not None and key is not None:
                cache[key] = taken
        if taken is not None:
            prints.append((name, taken))
    return tuple(prints)
