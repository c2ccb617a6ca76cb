"""After the capture budget: the mode leaves the stack, and no_grad, detach and .data are still seen."""

from __future__ import annotations

import torch
from torch import nn

from gradviz.capture.session import Tracer
from gradviz.model import Event


def function_modes() -> int:
    return int(torch._C._len_torch_function_stack())


def lines_of(events: tuple[Event, ...], kind: str, first: int) -> list[tuple[str, int]]:
    return [
        (event.op, event.location.line) for event in events[first:] if event.kind == kind and event.location
    ]


def line_of(marker: str) -> int:
    """The line of this file holding `marker` in a comment."""
    with open(__file__, encoding="utf-8") as source:
        return next(number for number, text in enumerate(source, 1) if f"# {marker}" in text)


def train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, modes: list[int]) -> torch.Tensor:
    inputs, targets = torch.randn(8, 3), torch.randn(8, 1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        modes.append(function_modes())
    return loss


def test_the_mode_leaves_the_stack_after_the_budget_and_training_is_unchanged() -> None:
    # Given the same small training run, plain and traced with one captured call
    torch.manual_seed(0)
    plain_model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    traced_model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    traced_model.load_state_dict(plain_model.state_dict())
    torch.manual_seed(1)
    plain = train(plain_model, torch.optim.SGD(plain_model.parameters(), lr=0.1), 5, [])
    before = function_modes()

    # When the traced run goes on past its budget
    modes: list[int] = []
    torch.manual_seed(1)
    with Tracer(max_backward=1) as tracer:
        traced = train(traced_model, torch.optim.SGD(traced_model.parameters(), lr=0.1), 5, modes)

    # Then from the first optimizer step on no function mode is left on the stack, the losses equal
    # the plain run's, and every call was counted
    assert modes == [before] * 5
    assert torch.equal(plain, traced)
    assert tracer.backward_calls == 5 and len(tracer.backwards) == 1


def test_no_grad_detach_and_data_edits_after_the_budget_are_still_in_the_timeline() -> None:
    # Given a run whose budget is spent by its first backward call
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3)

    # When, after it, the code evaluates under no_grad, detaches for plotting and edits .data
    with Tracer(max_backward=1) as tracer:
        for _ in range(3):
            loss = model(x).pow(2).mean()
            loss.backward()
            optimizer.step()
        after_budget = len(tracer.events)
        with torch.no_grad():  # evaluation
            evaluation = model(x).mean()
        plotted = loss.detach()  # plotting
        model[0].weight.data *= 0.5  # data edit
        optimizer.step()  # a safe point: the mode leaves again
        modes_after = function_modes()

    # Then each is in the timeline at its own line, as it is while recording
    events = tracer.events
    assert ("no_grad", line_of("evaluation")) in lines_of(events, "grad_mode", after_budget)
    assert any(
        event.grad_mode == "no_grad" and event.location and event.location.line == line_of("evaluation") + 1
        for event in events[after_budget:]
    )
    assert ("Tensor.detach", line_of("plotting")) in lines_of(events, "detach", after_budget)
    assert [line for _, line in lines_of(events, "data_write", after_budget)] == [line_of("data edit")]
    assert not evaluation.requires_grad and not plotted.requires_grad
    assert modes_after == function_modes() == 0


def test_watching_leaves_torch_as_it_was() -> None:
    # Given torch's own entry points before tracing
    originals = (torch.Tensor.detach, torch.Tensor.detach_, torch.no_grad.__enter__, torch.no_grad.__exit__)

    # When a traced run spends its budget and goes on
    with Tracer(max_backward=1):
        w = torch.ones(2, requires_grad=True)
        for _ in range(2):
            (w * 2).sum().backward()
        with torch.no_grad():
            w.detach()

    # Then every marker is gone again
    assert (torch.Tensor.detach, torch.Tensor.detach_, torch.no_grad.__enter__, torch.no_grad.__exit__) == (
        originals
    )
    assert "data" not in torch.Tensor.__dict__
    assert function_modes() == 0
