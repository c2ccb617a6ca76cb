"""Calls past the capture budget: leaves of every gradient layout are followed, and the run is unchanged."""

from __future__ import annotations

import weakref

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


def test_a_sparse_embedding_is_traced_and_followed_past_the_budget_with_no_capture_problem() -> None:
    # Given: the loop run without gradviz
    plain_emb, plain_losses = _train_embedding(6)
    # When: the same loop is traced, 3 of its 12 backward calls captured (the first step's whole)
    with Tracer(max_backward=3) as tracer:
        emb, losses = _train_embedding(6)
    trace = tracer.result()
    # Then: no capture problem, and the run is the plain one: same losses, same weights, same .grad
    assert [f.message for f in trace.findings if f.kind == "capture_problem"] == []
    assert losses == plain_losses
    assert torch.equal(emb.weight, plain_emb.weight)
    assert emb.weight.grad is not None and plain_emb.weight.grad is not None
    assert torch.equal(emb.weight.grad.to_dense(), plain_emb.weight.grad.to_dense())
    # and the leaf is followed through all 9 counted calls, its last .grad's norm the one torch holds
    (followed,) = trace.uncaptured
    assert followed.calls == 9
    assert followed.grad_after is not None and followed.grad_after.shape == (10, 3)
    assert followed.grad_after.norm == pytest.approx(float(emb.weight.grad.to_dense().norm()), rel=1e-6)
    # and the second call of each step is read as adding into a .grad that already held one
    assert trace.backward_calls == 12
    assert [f.kind for f in trace.findings] == ["accumulation"]


def test_the_ledger_keeps_the_last_calls_of_a_long_loop_with_torchs_numbers() -> None:
    # Given: a linear regression of 130 steps, 2 captured (the ledger keeps calls 1-100 and the last 3)
    x = torch.linspace(-1, 1, 20)
    y = 3 * x + 0.8
    losses: list[float] = []
    grads: list[list[float]] = []
    values: list[list[float]] = []
    with Tracer(max_backward=2) as tracer:
        w = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.2)
        for _ in range(130):
            opt.zero_grad()
            loss = ((w * x - y) ** 2).mean()
            loss.backward()
            grads.append(w.grad.tolist())  # type: ignore[union-attr]
            opt.step()
            losses.append(loss.item())
            values.append(w.detach().tolist())
    ledger = tracer.result().ledger
    # Then: the calls after 100 in the ledger are the last 3, each with torch's loss, w.grad and update
    late = [entry for entry in ledger if entry.call > 100]
    assert sorted({entry.call for entry in late}) == [128, 129, 130]
    for call in (128, 129, 130):
        (loss_entry,) = [e for e in late if e.call == call and e.kind == "backward" and e.leaf is None]
        (arrival,) = [e for e in late if e.call == call and e.kind == "backward" and e.leaf == "w"]
        (update,) = [e for e in late if e.call == call and e.kind == "update"]
        assert loss_entry.loss is not None and loss_entry.loss.values == pytest.approx(losses[call - 1])
        assert arrival.after is not None and list(arrival.after.values) == grads[call - 1]  # type: ignore[arg-type]
        assert update.how == "opt.step()" and update.location is not None
        assert update.before is not None and list(update.before.values) == values[call - 2]  # type: ignore[arg-type]
        assert update.after is not None and list(update.after.values) == values[call - 1]  # type: ignore[arg-type]
    # and each call's .grad was emptied by zero_grad() since the previous one: seen by its effect
    zeroed = [e for e in late if e.kind == "zeroed"]
    assert [e.call for e in zeroed] == [128, 129, 130]
    assert [list(e.before.values) for e in zeroed if e.before is not None] == grads[126:129]  # type: ignore[arg-type]


def test_a_gradient_of_a_few_dozen_elements_past_the_budget_shows_torchs_norm() -> None:
    # Given: the bench loop's first Linear (a 32-element weight, 8-element bias), 60 steps, 2 captured
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    inputs, targets = torch.randn(16, 4), torch.randn(16, 1)
    # When: it trains, the last step without zeroing afterwards
    with Tracer(max_backward=2) as tracer:
        for _ in range(60):
            opt.zero_grad()
            nn.functional.mse_loss(model(inputs), targets).backward()
            opt.step()
    trace = tracer.result()
    # Then: the weight's last .grad as followed has its shape, no values, and the norm torch gives
    weight = model[0].weight
    assert weight.grad is not None
    (followed,) = [
        leaf for leaf in trace.uncaptured if leaf.grad_after is not None and leaf.grad_after.shape == (8, 4)
    ]
    assert followed.calls == 58
    assert followed.grad_after is not None and followed.grad_after.values is None
    assert followed.grad_after.norm == pytest.approx(float(torch.linalg.vector_norm(weight.grad)), rel=1e-6)


def _fail_past_the_budget() -> tuple[weakref.ref[torch.Tensor], str]:
    """Two calls and a third that fails in the engine; the weight is dropped on return."""
    w = torch.randn(16, requires_grad=True)  # bigger than the small leaves the ledger keeps to the end
    (w * 2).sum().backward()
    loss = (w.exp() * 2).sum()
    loss.backward()
    try:
        loss.backward()  # through the freed graph
    except RuntimeError as error:  # its traceback holds the graph, and so the weight: kept apart
        return weakref.ref(w), str(error)
    raise AssertionError("torch accepted a second backward through a freed graph")


def test_a_call_that_fails_past_the_budget_leaves_no_leaf_held_by_gradviz() -> None:
    with Tracer(max_backward=1) as tracer:
        # When: the third call, past the budget, fails in the engine, and the user drops the weight
        gone, message = _fail_past_the_budget()
        # Then: torch's error reached the user, and gradviz does not keep the weight alive
        assert "backward through the graph a second time" in message
        assert gone() is None
    assert tracer.backward_calls == 3
