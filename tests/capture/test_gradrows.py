"""Small gradients copied into reused rows: torch's numbers whatever the order, and bounded buffers."""

from __future__ import annotations

import pytest
import torch

from gradviz.capture.gradbatch import GradBatch, _rows_values, summarize_all, summarize_batch
from gradviz.capture.gradrows import BUFFER_ROWS, GradRows
from gradviz.model import Value


def summaries_of(tensors: list[torch.Tensor]) -> list[Value | None]:
    """Each tensor summarised on its own (`summarize_all` of one tensor: no buffer shared)."""
    return [summarize_all([tensor])[0] for tensor in tensors]


def test_gradients_past_a_buffers_rows_keep_their_own_numbers_when_the_rows_are_written_again() -> None:
    # Given more same-shaped gradients than one buffer has rows, interleaved with other shapes,
    # each changed in place after its hook (as the engine may do when it adds into a gradient)
    torch.manual_seed(0)
    batch = GradBatch()
    tensors = []
    for index in range(BUFFER_ROWS * 2 + 7):
        tensors.append(torch.randn(5) * index)
        tensors.append(torch.randn(3, 7).t())  # not contiguous
        tensors.append(torch.tensor(float(index)))
    expected = summaries_of(tensors)
    slots = []
    for tensor in tensors:
        slots.append(batch.add(tensor))
        tensor.add_(1000.0)
    # When the call is over
    values = batch.resolve()
    # Then each gradient reads as torch read it when its hook saw it, not as a later row's values
    assert [values[slot] for slot in slots] == expected


def test_the_buffers_never_pass_their_byte_bound_and_still_give_torchs_numbers() -> None:
    # Given rows bounded to 4 KiB, and gradients of many shapes (each shape needs its own buffer)
    torch.manual_seed(1)
    values: list[Value | None] = []
    rows = GradRows(values, summarise=_rows_values, hold_bytes=4096)
    tensors = [torch.randn(size) for size in range(1, 40)] * 3
    held = []
    # When each is copied in
    for tensor in tensors:
        values.append(None)
        rows.add(len(values) - 1, tensor)
        held.append(rows.held_bytes)
    rows.flush()
    # Then the buffers never took more than the bound, and nothing is held afterwards
    assert max(held) <= 4096 and rows.held_bytes == 0
    assert values == summaries_of(tensors)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_a_thousand_same_shaped_leaf_gradients_summarise_in_parts_as_torch_reads_them(
    dtype: torch.dtype,
) -> None:
    # Given many more same-shaped tensors than one part stacks at a time (a deep MLP's weight .grads)
    torch.manual_seed(2)
    tensors = [torch.randn(64, 64, dtype=dtype) * (index % 7) for index in range(1000)]
    # When they are summarised in one batch
    values = summarize_batch(tensors)
    # Then each is summarised as when it is summarised alone
    assert values == summaries_of(tensors)


def test_a_transposed_gradient_reads_as_torch_reduces_it_in_memory_order() -> None:
    # Given the vJ a Linear's TBackward0 sends: 64x64, transposed, too many elements to keep values
    torch.manual_seed(2)
    tensors = [torch.randn(64, 64).t() for _ in range(50)]
    batch = GradBatch()
    slots = [batch.add(tensor) for tensor in tensors]
    # When the call is over
    values = batch.resolve()
    # Then norm, sum-based mean, min and max are torch's own, bit for bit (torch reduces in memory order)
    for slot, tensor in zip(slots, tensors, strict=True):
        value = values[slot]
        assert value is not None and value.values is None
        assert value.norm == torch.linalg.vector_norm(tensor).item()
        assert value.mean == tensor.mean().item()
        assert (value.min, value.max) == (tensor.min().item(), tensor.max().item())


def exactly_torchs(value: Value | None, tensor: torch.Tensor) -> bool:
    """The summary's shape and statistics are torch's own for this tensor, bit for bit."""
    assert value is not None and value.shape == tuple(tensor.shape)
    return (value.min, value.max, value.mean, value.norm) == (
        tensor.min().item(),
        tensor.max().item(),
        tensor.mean().item(),
        torch.linalg.vector_norm(tensor).item(),
    )


def test_non_square_transposed_gradients_and_their_views_read_as_torch_reads_each_in_its_own_shape() -> None:
    # Given the vJs a Linear(32, 64) sends backward: its weight's gradient transposed (32x64 over
    # 64x32 memory), then TBackward0's vJ, the same memory in the other shape; more of them than a
    # buffer has rows, and one whose memory changed in place before its view was taken
    torch.manual_seed(3)
    batch = GradBatch()
    grads = [torch.randn(64, 32).t() for _ in range(40)]
    slots = [(batch.add(grad), batch.add(grad.t())) for grad in grads]
    changed = torch.randn(64, 32).t()
    first = batch.add(changed)
    before = changed.clone()
    changed.mul_(-2)
    later = batch.add(changed.t())
    # When the call is over
    values = batch.resolve()
    # Then each reads as torch reads it in its own shape, and the changed one with its new numbers
    for grad, (slot, view_slot) in zip(grads, slots, strict=True):
        assert exactly_torchs(values[slot], grad) and exactly_torchs(values[view_slot], grad.t())
    assert exactly_torchs(values[first], before) and exactly_torchs(values[later], changed.t())
    assert values[later] is not None and values[later].max == -2 * before.min().item()


def test_a_small_gradient_and_its_transpose_keep_their_values_each_in_its_own_order() -> None:
    # Given a gradient small enough to show its values, and its transpose (a TBackward0's vJ)
    grad = torch.arange(12.0).view(3, 4)
    batch = GradBatch()
    slots = [batch.add(grad), batch.add(grad.t())]
    # When the call is over
    values = batch.resolve()
    # Then each lists its own values, as torch lists them
    assert [values[slot].values for slot in slots if values[slot] is not None] == [
        tuple(map(tuple, grad.tolist())),
        tuple(map(tuple, grad.t().tolist())),
    ]
