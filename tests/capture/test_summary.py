"""Value summaries: the numbers gradviz shows must be the ones torch computes."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from gradviz.capture.summary import MAX_VALUES, summarize, summarize_many

CASES = {
    "matrix": torch.tensor([[1.0, -2.0], [3.0, 4.0]]),
    "scalar": torch.tensor(5.0),
    "integers": torch.tensor([1, 2, 3]),
    "booleans": torch.tensor([True, False, True]),
    "nan": torch.tensor([float("nan"), 1.0]),
    "infinities": torch.tensor([float("inf"), -float("inf"), 2.0]),
    "half": torch.tensor([0.1, 0.2], dtype=torch.float16),
    "large": torch.linspace(-3, 5, 1_000).reshape(10, 100),
    "large half": torch.linspace(-3, 5, 1_000, dtype=torch.float16),
    "large integers": torch.arange(-500, 700),
    "large booleans": torch.arange(1_000) % 3 == 0,
    "large with nan": torch.cat([torch.ones(500), torch.tensor([float("nan")])]),
}


def same(a: float | None, b: float, rel: float = 1e-9) -> bool:
    return a is not None and ((math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rel))


@pytest.mark.parametrize("name", CASES)
def test_statistics_equal_torchs_float64_statistics(name: str) -> None:
    tensor = CASES[name]
    exact = tensor.to(torch.float64)
    # Large tensors are reduced in their own dtype, as the user's own t.mean() is: float32 rounding.
    rel = 1e-9 if tensor.numel() <= MAX_VALUES else 1e-3 if tensor.dtype == torch.float16 else 1e-6

    value = summarize(tensor)

    assert value.shape == tuple(tensor.shape) and value.dtype == str(tensor.dtype).removeprefix("torch.")
    assert same(value.min, exact.min().item()) and same(value.max, exact.max().item())
    assert same(value.mean, exact.mean().item(), rel)
    assert same(value.norm, torch.linalg.vector_norm(exact).item(), rel)
    if tensor.numel() <= MAX_VALUES:
        assert value.values is not None
        back = torch.tensor(value.values, dtype=tensor.dtype)
        assert torch.allclose(back, tensor, rtol=0, atol=0, equal_nan=True)  # exactly, NaN included
    else:
        assert value.values is None


def test_a_summary_is_plain_data_and_keeps_nothing_alive() -> None:
    tensor = torch.ones(3, requires_grad=True) * 2
    value = summarize(tensor)
    assert value.values == (2.0, 2.0, 2.0)
    assert not any(isinstance(field, torch.Tensor) for field in (value.values, value.min, value.norm))


def test_summarizing_a_big_tensor_does_not_copy_it() -> None:
    # Given a fresh process holding an 80 MB float32 tensor
    script = """
import resource, torch
from gradviz.capture.summary import summarize
big = torch.randn(20_000_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
value = summarize(big)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert abs(value.mean - big.mean().item()) < 1e-6 and value.norm == torch.linalg.vector_norm(big).item()
print(after - before)
"""
    # When it summarizes the tensor
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    # Then its peak memory grew by far less than the tensor's 80 MB (a float64 copy would add 160 MB)
    assert int(done.stdout.split()[-1]) < 8_000  # KiB: under 10% of the tensor


def test_summarizing_a_transposed_or_sliced_big_tensor_does_not_copy_it() -> None:
    # Given a fresh process holding a 160 MB float32 matrix, and its transpose, slices and an expanded row
    script = """
import resource, torch
from gradviz.capture.summary import summarize, summarize_many
big = torch.randn(8_000, 5_000)
views = [big.t(), big[:, 1:4_000], big.t()[::2], big[:1].expand(8_000, 5_000)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
values = [summarize(view) for view in views] + summarize_many(list(views))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for value, view in zip(values, views * 2):
    assert (value.min, value.max) == (view.min().item(), view.max().item())
print(after - before)
"""
    # When it summarizes each view, one by one and in one batch
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    # Then min and max are torch's, and peak memory grew by far less than the 160 MB a copy would take
    assert int(done.stdout.split()[-1]) < 16_000  # KiB: under 10% of the tensor


def test_many_summaries_at_once_are_the_one_by_one_summaries() -> None:
    # Given gradients of every kind a graph's leaves hold: small and big, 0-d to 3-d, two dtypes, a NaN,
    # a transpose, one that requires grad (create_graph=True), an integer one and a missing one
    torch.manual_seed(0)
    tensors: list[torch.Tensor | None] = [
        torch.randn(64),
        torch.randn(4, 8),
        torch.randn(2, 3, 4),
        torch.tensor(2.5),
        torch.randn(3, dtype=torch.float64),
        torch.randn(64, 64),
        torch.randn(300, dtype=torch.float64),
        torch.randn(30, 20).t(),  # not contiguous
        torch.cat([torch.randn(200), torch.tensor([float("nan")])]),
        torch.randn(5, requires_grad=True) * 2,
        torch.arange(7),
        torch.randn(0),
        None,
    ]

    # When they are summarised together
    together = summarize_many(tensors)

    # Then each summary is exactly the one summarize() gives alone (values, min, max, mean, norm)
    alone = [None if tensor is None else summarize(tensor) for tensor in tensors]
    assert repr(together) == repr(alone)  # repr: NaN compares unequal to itself


def test_a_big_gradient_summary_is_torchs_own_numbers() -> None:
    # Given a big float32 tensor
    torch.manual_seed(1)
    tensor = torch.randn(96, 128) * 3 + 0.5

    # When it is summarised with others
    value = summarize_many([tensor, torch.randn(1000)])[0]

    # Then min, max, mean and norm are exactly what torch computes
    assert value is not None
    assert (value.min, value.max) == (tensor.min().item(), tensor.max().item())
    assert value.mean == tensor.mean().item()
    assert value.norm == torch.linalg.vector_norm(tensor).item()


def test_many_equal_sized_gradients_are_each_torchs_own_numbers() -> None:
    # Given the gradients of a model with repeated layers: several of one size (one holding a NaN),
    # in two dtypes, and one bigger than torch reduces in a single pass
    torch.manual_seed(2)
    tensors = [torch.randn(32, 32, 3, 3) * (number + 1) + number for number in range(5)]
    tensors += [torch.randn(128) - 4 for _ in range(3)]
    tensors += [torch.randn(128, dtype=torch.float64) for _ in range(2)]
    tensors.append(torch.randn(40_000))
    tensors[2][0, 0, 1, 1] = float("nan")

    # When they are summarised together
    values = summarize_many(list(tensors))

    # Then each summary holds exactly the numbers torch gives for that tensor alone
    for tensor, value in zip(tensors, values, strict=True):
        assert value is not None
        expected = (tensor.min(), tensor.max(), tensor.mean(), torch.linalg.vector_norm(tensor))
        assert repr((value.min, value.max, value.mean, value.norm)) == repr(tuple(n.item() for n in expected))
