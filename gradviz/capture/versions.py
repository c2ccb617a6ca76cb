"""A tensor's version counter, where it has one."""

from __future__ import annotations

import torch


def version_of(tensor: torch.Tensor) -> int | None:
    """The tensor's ``_version``; None for an inference tensor, which has no version counter.

    Reading ``_version`` of a tensor made under ``torch.inference_mode()`` raises ("Inference tensors do
    not track version counter"); an in-place op on one inside the block is ordinary code.

    Args:
        tensor: The tensor.

    Returns:
        Its version, or None.
    """
    return None if tensor.is_inference() else int(tensor._version)
