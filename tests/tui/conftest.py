"""Fixtures for the TUI tests: the tutorial example traced for real, and PyTorch's own answers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.model import Trace


@dataclass
class Tutorial:
    """The traced tutorial chain and the values torch gives for it (x is ones(2, 2))."""

    trace: Trace
    v_z: torch.Tensor
    v_three_y: torch.Tensor
    v_y: torch.Tensor
    x_grad: torch.Tensor
    x: torch.Tensor


@pytest.fixture(scope="module")
def tutorial() -> Tutorial:
    # Given the tutorial chain x -> y = x**2 -> z = 3*y*y -> out = z.mean(), traced twice over
    # (retain_graph) so there are two captured calls, the second one accumulating into x.grad.
    with Tracer() as tracer:
        x = torch.ones(2, 2, requires_grad=True)
        y = x**2
        three_y = 3 * y
        z = three_y * y
        out = z.mean()
        for tensor in (y, three_y, z):
            tensor.retain_grad()
        out.backward(retain_graph=True)
        reference = (z.grad.clone(), three_y.grad.clone(), y.grad.clone(), x.grad.clone())  # type: ignore[union-attr]
        out.backward()
    return Tutorial(tracer.result(), *reference, x.detach().clone())
