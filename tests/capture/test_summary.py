"""Value summaries: the numbers gradviz shows must be the ones torch computes."""

from __future__ import annotations

import math

import pytest
import torch

from gradviz.capture.summary import MAX_VALUES, summarize

CASES = {
    "matrix": torch.tensor([[1.0, -2.0], [3.0, 4.0]]),
    "scalar": torch.tensor(5.0),
    "integers": torch.tensor([1, 2, 3]),
    "booleans": torch.tensor([True, False, True]),
    "nan": torch.tensor([float("nan"), 1.0]),
    "infinities": torch.tensor([float("inf"), -float("inf"), 2.0]),
    "half": torch.tensor([0.1, 0.2], dtype=torch.float16),
    "large": torch.linspace(-3, 5, 1_000).reshape(10, 100),
}


def same(a: float | None, b: float) -> bool:
    return a is not None and ((math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9))


@pytest.mark.parametrize("name", CASES)
def test_statistics_equal_torchs_float64_statistics(name: str) -> None:
    tensor = CASES[name]
    exact = tensor.to(torch.float64)

    value = summarize(tensor)

    assert value.shape == tuple(tensor.shape) and value.dtype == str(tensor.dtype).removeprefix("torch.")
    assert same(value.min, exact.min().item()) and same(value.max, exact.max().item())
    assert same(value.mean, exact.mean().item())
    assert same(value.norm, torch.linalg.vector_norm(exact).item())
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
