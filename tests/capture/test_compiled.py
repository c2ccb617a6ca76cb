"""torch.compile under the tracer: the same graphs as without it, and only the user's backward calls."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from gradviz.capture.session import Tracer


class CountingBackend:
    """A torch.compile backend that runs each graph as it is and notes how many ops it holds."""

    def __init__(self) -> None:
        self.graphs: list[int] = []

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: Any) -> Callable[..., Any]:
        self.graphs.append(sum(node.op not in ("placeholder", "output") for node in gm.graph.nodes))
        return gm.forward


def graphs_of(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, warm_up: int) -> list[int]:
    """The graphs Dynamo makes of `fn`, compiled after `warm_up` training steps (backward, optimizer step)."""
    optimizer = torch.optim.SGD([x], lr=0.0)
    for _ in range(warm_up):
        (x * 2).sum().backward()
        optimizer.step()
    torch._dynamo.reset()
    backend = CountingBackend()
    torch.compile(fn, backend=backend)(x)
    return backend.graphs


def test_compiled_module_is_one_graph_as_without_the_tracer() -> None:
    # Given: a model whose submodule calls go through gradviz's Module.__call__ while the budget lasts
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    x = torch.randn(2, 3, requires_grad=True)

    # When: Dynamo compiles it plain and traced
    results = []
    tracings: tuple[AbstractContextManager[object], ...] = (nullcontext(), Tracer(max_backward=None))
    for tracing in tracings:
        with tracing:
            results.append(graphs_of(model, x, warm_up=0))

    # Then: one graph with the same ops: nothing of gradviz's breaks it
    plain, traced = results
    assert traced == plain == [plain[0]]


def test_compiled_detach_past_the_budget_is_one_graph_as_without_the_tracer() -> None:
    # Given: a function that detaches, compiled once the budget is spent (gradviz's markers watch detach)
    def accuracy(logits: torch.Tensor) -> torch.Tensor:
        return (logits.detach().argmax(dim=1) == 0).float().mean() + logits.sum()

    x = torch.randn(4, 3, requires_grad=True)

    # When: Dynamo compiles it plain and traced
    results = []
    tracings: tuple[AbstractContextManager[object], ...] = (nullcontext(), Tracer(max_backward=1))
    for tracing in tracings:
        with tracing:
            results.append(graphs_of(accuracy, x, warm_up=2))

    # Then: one graph with the same ops
    plain, traced = results
    assert traced == plain == [plain[0]]


def test_aot_autograd_tracing_is_not_a_backward_call() -> None:
    # Given: a model compiled with AOTAutograd, which traces its backward on fake tensors when compiling
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    (expected,) = torch.autograd.grad(model(x).pow(2).sum(), model.weight)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager")

    # When: it is called and its loss backpropagated once, traced
    with Tracer(max_backward=None) as tracer:
        compiled(x).pow(2).sum().backward()

    # Then: one call, the user's, captured without a problem and with torch's gradient
    assert model.weight.grad is not None and torch.allclose(model.weight.grad, expected)
    assert tracer.backward_calls == len(tracer.backwards) == 1
    assert [f.message for f in tracer.findings if f.kind == "capture_problem"] == []


def test_ops_of_a_compiled_graph_are_placed_at_the_users_line() -> None:
    # Given: a model compiled with AOTAutograd, whose graph torch runs as generated Python code
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="aot_eager")

    # When: it is evaluated under no_grad, traced
    with Tracer(max_backward=None) as tracer, torch.no_grad():
        compiled(torch.randn(4, 3))  # evaluated here

    # Then: the note on its ops names this line, not torch.fx's generated code
    (note,) = [f for f in tracer.findings if f.kind == "no_grad"]
    assert "compiled(torch.randn(4, 3))" in note.message and "<eval_with_key>" not in note.message
