"""Saved-tensor hooks run exactly as often under gradviz as without it (checkpointing, offloading)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from gradviz.capture.session import Tracer


def small_model() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    w1 = torch.randn(3, 3, generator=generator, requires_grad=True)
    w2 = torch.randn(3, 2, generator=generator, requires_grad=True)
    x = torch.randn(2, 3, generator=generator, requires_grad=True)
    return w1, w2, x


def block(t: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(t @ w1).sin() * t) @ w2


def training_step(use_reentrant: bool | None, tracing: AbstractContextManager[object]) -> list[torch.Tensor]:
    """Two backward calls through a checkpointed block; the leaves' gradients after them."""
    w1, w2, x = small_model()
    with tracing:
        for _ in range(2):
            if use_reentrant is None:
                y = block(x, w1, w2)
            else:
                y = checkpoint(block, x, w1, w2, use_reentrant=use_reentrant)
            (y**2).sum().backward()
    assert w1.grad is not None and w2.grad is not None and x.grad is not None
    return [w1.grad, w2.grad, x.grad]


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpointed_training_step_gives_torchs_gradients(use_reentrant: bool) -> None:
    # Given: the gradients of plain torch, with and without checkpointing
    expected = training_step(None, nullcontext())

    # When: the same checkpointed step runs traced
    traced = training_step(use_reentrant, Tracer(max_backward=None))

    # Then: no CheckpointError, and the same gradients
    for got, want in zip(traced, expected, strict=True):
        assert torch.allclose(got, want)


@contextmanager
def counting_hooks(counts: dict[str, int]) -> Iterator[None]:
    def pack(tensor: torch.Tensor) -> torch.Tensor:
        counts["pack"] += 1
        return tensor

    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        counts["unpack"] += 1
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield


def hook_counts(tracing: Callable[[], AbstractContextManager[object]]) -> tuple[dict[str, int], torch.Tensor]:
    counts = {"pack": 0, "unpack": 0}
    w1, w2, x = small_model()
    with tracing():
        with counting_hooks(counts):
            y = block(x, w1, w2)
        (y**2).sum().backward()
    assert w1.grad is not None
    return counts, w1.grad


def test_user_unpack_hooks_run_as_often_as_without_gradviz() -> None:
    # Given: pack/unpack counts of plain torch
    plain, plain_grad = hook_counts(nullcontext)

    # When: the same forward and backward run traced (Jacobians on, saved tensors described)
    traced, traced_grad = hook_counts(lambda: Tracer(max_backward=None))

    # Then: each hook ran exactly as often
    assert plain["unpack"] > 0
    assert traced == plain
    assert torch.equal(traced_grad, plain_grad)


def test_save_on_cpu_is_left_to_torch() -> None:
    # Given: the gradient of plain torch with activations offloaded
    w1, w2, x = small_model()
    with torch.autograd.graph.save_on_cpu():
        y = block(x, w1, w2)
    (y**2).sum().backward()
    expected = w1.grad

    # When: traced
    w1, w2, x = small_model()
    with Tracer(max_backward=None) as tracer:
        with torch.autograd.graph.save_on_cpu():
            y = block(x, w1, w2)
        (y**2).sum().backward()

    # Then: the same gradient, and the call was captured step by step
    assert expected is not None and w1.grad is not None
    assert torch.equal(w1.grad, expected)
    (call,) = tracer.backwards
    assert len(call.steps) == len(call.nodes)
