"""The ledger: each leaf's .grad and value over time, checked against what PyTorch itself held."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from gradviz.capture.ledgerwords import step_how
from gradviz.capture.session import Tracer
from gradviz.model import LedgerEntry, Location, Value
from gradviz.render.ledger import learning_rate, to_ledger_text
from gradviz.render.summary import summarize
from gradviz.render.values import format_nested


def _values(value: Value | None) -> list[float] | None:
    return None if value is None else list(value.values)  # type: ignore[arg-type]


SCRIPT = """\
import torch
w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
(w * w).sum().backward()
(w * w).sum().backward()
held = w.grad.clone()
{zeroing}
zeroed = None if w.grad is None else w.grad.clone()
(w * w).sum().backward()
"""
ZEROINGS = {
    "opt.zero_grad()": "opt.zero_grad()",  # named as the line calls it
    "w.grad = None": "w.grad = None",
    "w.grad.zero_()": "w.grad.zero_()",
    "w.grad.data.zero_()": "w.grad.data.zero_()",
}


@pytest.mark.parametrize("how", list(ZEROINGS))
def test_call_three_of_backward_backward_zero_backward_says_zeroed_at_its_line(
    how: str, tmp_path: Path
) -> None:
    # Given: backward, backward, a zeroing (line 7), backward; PyTorch's own .grad noted around it
    script = tmp_path / "zero.py"
    script.write_text(SCRIPT.format(zeroing=ZEROINGS[how]))
    with Tracer(max_backward=5) as tracer:
        torch_state = runpy.run_path(str(script))
    # When: the trace is read
    trace = tracer.result()
    third = trace.backwards[2]
    # Then: call 3 carries the zeroing, named, at its line, with .grad before and after as torch had them
    [entry] = [e for e in third.ledger if e.kind == "zeroed"]
    assert (entry.leaf, entry.how, entry.location and entry.location.line) == ("w", how, 7)
    zeroed = torch_state["zeroed"]
    assert _values(entry.before) == torch_state["held"].tolist()
    assert _values(entry.after) == (None if zeroed is None else zeroed.tolist())
    [arrival] = [e for e in third.ledger if e.kind == "backward"]
    assert _values(arrival.before) == (None if zeroed is None else [0.0, 0.0, 0.0])
    assert _values(arrival.after) == torch_state["w"].grad.tolist()
    # and the summary says it, with values
    text = summarize(trace, [], None)
    was = "None" if zeroed is None else "[0, 0, 0]"
    assert f"w.grad = [2, 4, 6]  (zeroed at line 7 by {how}: was {was} before this call)" in text


def test_optimizer_step_and_manual_updates_show_the_values_torch_had() -> None:
    # Given: one optimizer step and two manual updates, with torch's values noted around each
    with Tracer(max_backward=5) as tracer:
        w = torch.tensor([1.0, -2.0], requires_grad=True)
        opt = torch.optim.SGD([w], lr=0.1)
        loss = (w * w).sum()
        loss.backward()
        grad = w.grad.clone()  # type: ignore[union-attr]
        start = w.detach().clone()
        opt.step()
        stepped = w.detach().clone()
        with torch.no_grad():
            w -= 0.5 * w.grad  # type: ignore[operator]
        manual = w.detach().clone()
        w.data -= 0.25 * w.grad  # type: ignore[operator]
        through_data = w.detach().clone()
    ledger = tracer.result().ledger
    updates = [e for e in ledger if e.kind == "update"]
    # Then: each update, in order, with the values before and after that torch held
    assert [e.how for e in updates] == [
        "opt.step()",  # as the line calls it
        "w -= 0.5 * w.grad",
        "w.data -= 0.25 * w.grad",
    ]
    pairs = [(start, stepped), (stepped, manual), (manual, through_data)]
    for entry, (before, after) in zip(updates, pairs, strict=True):
        assert _values(entry.before) == before.tolist() and _values(entry.after) == after.tolist()
    # and the rule w <- w - lr * grad is recovered with each lr
    rates = [learning_rate(e.before, e.after, _value(grad)) for e in updates]
    assert rates == pytest.approx([0.1, 0.5, 0.25])
    [arrival] = [e for e in ledger if e.kind == "backward"]
    assert arrival.loss is not None and arrival.loss.values == pytest.approx(loss.item())


def _value(tensor: torch.Tensor) -> Value:
    return Value(tuple(tensor.shape), "float32", tuple(tensor.tolist()))


def test_the_ledger_follows_every_call_past_the_budget() -> None:
    # Given: a linear regression of 60 steps, 2 of them captured
    torch.manual_seed(0)
    losses: list[float] = []
    with Tracer(max_backward=2) as tracer:
        x = torch.linspace(-1, 1, 20)
        y = 3 * x + 0.8
        w = torch.zeros(1, requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([w, b], lr=0.2)
        for _ in range(60):
            opt.zero_grad()
            loss = ((w * x + b - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    ledger = tracer.result().ledger
    # Then: one loss per call, equal to torch's, and the last update leaves w and b as torch has them
    recorded = [e.loss.values for e in ledger if e.kind == "backward" and e.loss is not None]
    assert recorded == pytest.approx(losses)
    last: dict[str | None, LedgerEntry] = {e.leaf: e for e in ledger if e.kind == "update"}
    assert _values(last["w"].after) == w.detach().tolist()
    assert _values(last["b"].after) == b.detach().tolist()
    text = to_ledger_text(tracer.result())
    assert "w <- w - 0.2 * w.grad" in text and "b <- b - 0.2 * b.grad" in text
    last_row = text.rstrip().splitlines()[-1].split()
    assert last_row[0] == "#60" and float(last_row[1]) == pytest.approx(losses[-1], rel=1e-3)
    assert last_row[2:] == [
        format_nested(tuple(w.detach().tolist())),
        format_nested(tuple(b.detach().tolist())),
    ]


def test_a_zeroing_past_the_budget_is_seen_by_its_effect() -> None:
    # Given: three captured calls, then w.grad = None and a counted call
    with Tracer(max_backward=3) as tracer:
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        for _ in range(3):
            (w * w).sum().backward()
        held = w.grad.clone()  # type: ignore[union-attr]
        w.grad = None
        (w * w).sum().backward()
    ledger = tracer.result().ledger
    # Then: the ledger says .grad was zeroed before call 4 (without a line) and what call 4 left, as torch
    zeroed, arrival = [e for e in ledger if (e.leaf == "w" and e.call == 4) or e.kind == "zeroed"]
    assert zeroed.kind == "zeroed" and zeroed.location is None and _values(zeroed.before) == held.tolist()
    assert arrival.kind == "backward" and not arrival.captured and arrival.before is None
    assert _values(arrival.after) == w.grad.tolist()  # type: ignore[union-attr]


def test_manual_updates_past_the_budget_are_seen_by_their_effect() -> None:
    # Given: the manual loop (w -= lr * w.grad under no_grad, then w.grad.zero_()), 2 calls captured of 5
    values: list[list[float]] = []
    with Tracer(max_backward=2) as tracer:
        w = torch.tensor([0.0], requires_grad=True)
        x = torch.tensor([1.0, 2.0])
        for _ in range(5):
            ((w * x - 3 * x) ** 2).mean().backward()
            with torch.no_grad():
                w -= 0.1 * w.grad  # type: ignore[operator]
            w.grad.zero_()  # type: ignore[union-attr]
            values.append(w.detach().tolist())
    ledger = tracer.result().ledger
    # Then: one update per step, each with the value torch's w had after it, in order
    updates = [e for e in ledger if e.kind == "update"]
    assert [_values(e.after) for e in updates] == values
    assert [e.call for e in updates] == [1, 2, 3, 4, 5]
    assert all(learning_rate(e.before, e.after, None) is None for e in updates)  # no grad given: no lr


def test_a_finished_trace_keeps_no_parameter_alive_and_keeps_its_last_manual_step() -> None:
    # Given: a small parameter trained inside a trace in a function, updated once more by hand after its
    # last backward call; the user keeps only a weak reference to it
    import gc
    import weakref

    freed: list[str] = []

    def train() -> tuple[Tracer, weakref.ref[torch.Tensor], list[float]]:
        with Tracer() as tracer:
            w = torch.tensor([1.0, 2.0], requires_grad=True)
            (w * w).sum().backward()
            with torch.no_grad():
                w -= 0.5 * w.grad  # type: ignore[operator]
        return tracer, weakref.ref(w, lambda _: freed.append("w")), w.detach().tolist()

    # When: the function returns (the parameter's last strong reference goes with it)
    tracer, watcher, after_step = train()
    gc.collect()

    # Then: it is freed as in a plain run (its weak-reference callback fires), and the ledger still lists
    # the update made after the last call, with the value torch's w had
    assert freed == ["w"] and watcher() is None
    update = next(e for e in tracer.result().ledger if e.kind == "update")
    assert _values(update.after) == after_step


def test_an_update_is_named_as_the_users_line_calls_the_step() -> None:
    # Given: the lines an optimizer step is called from in real loops
    def how(code: str | None) -> str:
        return step_how(Location("train.py", 9, "main", code) if code is not None else None)

    # Then: the ledger names the step as the line does, and falls back to optimizer.step()
    assert how("dense_optimizer.step()") == "dense_optimizer.step()"
    assert how("loss = optimizer.step(closure)") == "optimizer.step()"
    assert how("scaler.step(opt)  # AMP") == "scaler.step()"
    assert how(None) == "optimizer.step()" and how("") == "optimizer.step()"
