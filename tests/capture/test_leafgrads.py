"""The leaves' .grad summarised together read as summarize_all reads them, and as torch reduces them."""

from __future__ import annotations

import torch

from gradviz.capture.gradbatch import summarize_all
from gradviz.capture.leafgrads import PIECE_BYTES, leaf_grad_values


def test_leaf_grads_read_together_equal_summarize_all() -> None:
    # Given .grad tensors of every kind a leaf can hold, many of one shape (more than one stack's worth)
    torch.manual_seed(0)
    per_piece = PIECE_BYTES // (64 * 64 * 4)
    grads: list[torch.Tensor | None] = [torch.randn(64, 64) * (k + 1) for k in range(per_piece * 2 + 3)]
    grads += [
        None,
        torch.randn(64),  # values kept
        torch.randn(3, dtype=torch.float64),
        torch.randn(70, 70).t(),  # big, transposed
        torch.randn(5000),  # big, contiguous: norms of all of them in one call
        torch.randn(80, 80, dtype=torch.float64),
        torch.randn(6000) * 3,
        torch.full((4100,), float("inf")),
        torch.randn(4, 4, dtype=torch.float16),
        torch.tensor([float("nan"), 1.0, -0.0]),
        torch.zeros(0),
        torch.tensor([1, 2, 3]),
        torch.randn(10, 10, requires_grad=True),
        torch.randn(2, 3).to_sparse(),
        torch.empty(3, device="meta"),
    ]
    # When they are summarised together and by summarize_all
    together, reference = leaf_grad_values(grads), summarize_all(grads)
    # Then every record reads the same (NaN included), with torch's own extremes for the big ones
    assert [repr(value) for value in together] == [repr(value) for value in reference]
    stacked = per_piece * 2 + 3
    for grad, value in zip(grads[:stacked], together[:stacked], strict=True):
        assert grad is not None and value is not None
        assert (value.min, value.max) == (grad.min().item(), grad.max().item())
        assert value.norm == torch.linalg.vector_norm(grad).item()
