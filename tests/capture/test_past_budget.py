"""Calls past the capture budget: leaves of every gradient layout are followed, and the run is unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradviz.capture.session import Tracer


def _train_embedding(steps: int) -> tuple[nn.Embedding, list[float]]:
    """A sparse embedding trained with two backward calls per SGD step (accumulation into a sparse .grad)."""
    torch.manual_seed(0)
    emb = nn.Embedding(10, 3, sparse=True)
    opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    first, second = torch.tensor([1, 2, 2, 5]), torch.tensor([5, 7])
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        for ids in (first, second):
            loss = emb(ids).pow(2).sum()
            loss.backward()
            losses.append(loss.item())
        opt.step()
    return emb, losses


def test_a_sparse_embedding_past_the_budget_is_followed_with_no_capture_problem() -> None:
    # Given: the loop run without gradviz
    plain_emb, plain_losses = _train_embedding(6)
    # When: the same loop is traced, 2 of its 12 backward calls captured
    with Tracer(max_backward=2) as tracer:
        emb, losses = _train_embedding(6)
    trace = tracer.result()
    # Then: no capture problem, and the run is the plain one: same losses, same weights, same .grad
    assert [f.message for f in trace.findings if f.kind == "capture_problem"] == []
    assert losses == plain_losses
    assert torch.equal(emb.weight, plain_emb.weight)
    assert emb.weight.grad is not None and plain_emb.weight.grad is not None
    assert torch.equal(emb.weight.grad.to_dense(), plain_emb.weight.grad.to_dense())
    # and the leaf is followed through all 10 counted calls, its last .grad's norm the one torch holds
    (followed,) = trace.uncaptured
    assert followed.calls == 10
    assert followed.grad_after is not None and followed.grad_after.shape == (10, 3)
    assert followed.grad_after.norm == pytest.approx(float(emb.weight.grad.to_dense().norm()), rel=1e-6)
    # and the second call of each step is read as adding into a .grad that already held one
    assert trace.backward_calls == 12
