"""Big gradients reduced in the hook: torch's own numbers, whatever the caller already knew of them."""

from __future__ import annotations

import torch

from gradviz.capture.bigreduce import BigReductions


def test_big_gradients_read_as_torch_reads_them_with_or_without_the_callers_count_and_contiguity() -> None:
    # Given big gradients laid out as the engine sends them: contiguous, transposed (as a t node's vJ),
    # permuted, strided (not dense), and two of one shape
    torch.manual_seed(0)
    base = torch.randn(96, 128)
    tensors = [
        base,
        base.t(),
        torch.randn(8, 16, 64).permute(2, 0, 1),
        torch.randn(128, 128)[:, ::2],
        torch.randn(96, 128) * 3,
    ]
    plain, hinted = BigReductions(), BigReductions()
    # When each is taken on its own, and with the count and contiguity the caller worked out already
    for slot, tensor in enumerate(tensors):
        plain.take(slot, tensor)
        hinted.take(slot, tensor, count=tensor.numel(), contiguous=tensor.is_contiguous())
    # Then both read back torch's own statistics of each tensor, bit for bit, each in its own shape
    for found in (dict(plain.read()), dict(hinted.read())):
        assert sorted(found) == list(range(len(tensors)))
        for slot, tensor in enumerate(tensors):
            value = found[slot]
            assert value.shape == tuple(tensor.shape) and value.values is None
            assert (value.min, value.max) == (tensor.min().item(), tensor.max().item())
            assert value.norm == torch.linalg.vector_norm(tensor).item()
            assert value.mean == tensor.sum().item() / tensor.numel()
