"""Module paths on nodes, checked against the modules' own forward hooks and named_modules()."""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import pytest
import torch
from torch import nn

from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, Graph


def transformer(layers: int) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)


def producers(model: nn.Module) -> tuple[dict[int, str], list[Any]]:
    """For each grad_fn a module returned and did not receive, the innermost such module's path.

    PyTorch runs inner modules' forward hooks first, so the first module to report a grad_fn is the
    innermost one that returned it.
    """
    found: dict[int, str] = {}
    keep: list[Any] = []  # grad_fns stay alive, so their ids stay theirs

    def hook(path: str) -> Any:
        def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            inputs = {id(arg.grad_fn) for arg in args if isinstance(arg, torch.Tensor)}
            first = output[0] if isinstance(output, tuple) else output
            made = first.grad_fn if isinstance(first, torch.Tensor) else None
            if made is not None and id(made) not in inputs:
                keep.append(made)
                found.setdefault(id(made), path)

        return record

    for path, module in model.named_modules():
        module.register_forward_hook(hook(path))
    return found, keep


def traced(model: nn.Module, *inputs: torch.Tensor) -> tuple[BackwardCall, torch.Tensor]:
    with Tracer() as tracer:
        loss = model(*inputs).mean()
        loss.backward(retain_graph=True)
    return tracer.backwards[0], loss


def module_of_fn(call: BackwardCall, loss: torch.Tensor) -> dict[int, str | None]:
    """``id(grad_fn)`` to the recorded module path, matching nodes by a walk in the same order."""
    from gradviz.capture.graph import walk

    walked = walk([loss])
    return {id(fn): call.graph.nodes[node_id].module for node_id, fn in enumerate(walked.fns)}


def test_each_node_carries_the_innermost_module_that_made_it() -> None:
    # Given a 2-layer TransformerEncoder whose every module reports the grad_fns it returned
    model = transformer(2)
    expected, keep = producers(model)

    # When its forward and backward are traced
    call, loss = traced(model, torch.randn(2, 3, 16))

    # Then every node a module returned carries that module's path (self_attn, linear1, norm2, ...)
    recorded = module_of_fn(call, loss)
    checked = {path for key, path in expected.items() if key in recorded}
    assert {recorded[key] for key in expected if key in recorded} == checked
    for key, path in expected.items():
        if key in recorded:
            assert recorded[key] == path
    assert {"layers.0.self_attn", "layers.1.linear2", "layers.0.norm2"} <= checked
    # and the mean taken outside the model belongs to no module
    assert call.graph.nodes[0].module is None
    assert keep


def test_parameters_belong_to_the_module_that_owns_them_and_inputs_to_none() -> None:
    # Given a small model and an input that requires grad
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x = torch.randn(2, 3, requires_grad=True)

    # When traced
    with Tracer() as tracer:
        model(x).sum().backward()

    # Then each parameter's AccumulateGrad node carries named_parameters()' prefix; the input none
    graph = tracer.backwards[0].graph
    leaves = {node.tensor.label: node.module for node in graph.leaves if node.tensor is not None}
    expected = {f"model.{name}": name.rpartition(".")[0] for name, _ in model.named_parameters()}
    assert leaves == expected | {"x": None}
    modules = {info.path: info.type for info in graph.modules}
    assert modules == {"": "Sequential", "0": "Linear", "1": "Tanh", "2": "Linear"}


def test_modules_list_every_parent_once_with_its_class() -> None:
    # Given a 2-layer TransformerEncoder
    model = transformer(2)

    # When traced
    call, _ = traced(model, torch.randn(2, 3, 16))

    # Then Graph.modules names each path used and its parents, with the class named_modules() gives
    graph: Graph = call.graph
    types = {path: type(module).__name__ for path, module in model.named_modules()}
    paths = [info.path for info in graph.modules]
    assert len(paths) == len(set(paths))
    for info in graph.modules:
        assert info.type == types[info.path]
    used = {node.module for node in graph.nodes if node.module is not None}
    for path in used:
        parts = path.split(".")
        assert {".".join(parts[:end]) for end in range(len(parts) + 1)} <= set(paths)
    assert next(info for info in graph.modules if info.path == "layers").calls == 0  # a ModuleList


def test_twelve_identical_layers_have_the_same_inside() -> None:
    # Given a 12-layer TransformerEncoder (an input that requires grad, so layer 0 records what the
    # others record for theirs)
    model = transformer(12)

    # When traced
    call, _ = traced(model, torch.randn(2, 3, 16, requires_grad=True))

    # Then every layer made the same nodes, so a drawing can fold them into one "x12" box
    inside = [
        Counter(node.name for node in call.graph.nodes if (node.module or "").startswith(f"layers.{k}."))
        for k in range(12)
    ]
    assert inside[0] and all(counts == inside[0] for counts in inside)
    layers = [info for info in call.graph.modules if info.path.count(".") == 1]
    assert [info.path for info in sorted(layers, key=lambda i: int(i.path.split(".")[1]))] == [
        f"layers.{k}" for k in range(12)
    ]
    assert {(info.type, info.calls) for info in layers} == {("TransformerEncoderLayer", 1)}


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(2, 3)
        self.head = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = torch.zeros(x.shape[1], 3)
        for step in x:
            h, c = self.cell(step, (h, c))
        return self.head(h)


def test_a_cell_called_each_time_step_counts_its_calls() -> None:
    # Given an LSTMCell called for 5 time steps
    model = Recurrent()

    # When traced
    call, _ = traced(model, torch.randn(5, 4, 2))

    # Then its nodes carry "cell", and Graph.modules says it was called 5 times
    modules = {info.path: info for info in call.graph.modules}
    assert (modules["cell"].type, modules["cell"].calls) == ("LSTMCell", 5)
    assert (modules[""].type, modules[""].calls) == ("Recurrent", 1)
    assert Counter(node.module for node in call.graph.nodes)["cell"] > 5


def test_unrelated_outermost_modules_are_told_apart_by_variable_name() -> None:
    # Given an actor and a critic called separately, both feeding one loss
    torch.manual_seed(0)
    actor = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    critic = nn.Sequential(nn.Linear(2, 1))
    state = torch.randn(3, 2)

    # When traced
    with Tracer() as tracer:
        loss = actor(state).sum() + critic(state).sum()
        loss.backward()

    # Then paths start with each one's variable name
    graph = tracer.backwards[0].graph
    used = {node.module for node in graph.nodes} - {None}
    assert used == {"actor.0", "actor.1", "critic.0"}
    modules = {info.path: info.type for info in graph.modules}
    assert modules == {"actor": "Sequential", "actor.0": "Linear", "actor.1": "Tanh"} | {
        "critic": "Sequential",
        "critic.0": "Linear",
    }


class Failing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inner(x)
        raise ValueError("boom")


def test_a_forward_that_raised_leaves_no_stale_module_behind() -> None:
    # Given a model whose forward raises once inside a module, then a normal model
    model = nn.Sequential(nn.Linear(2, 2))
    call_before = nn.Module.__call__

    # When both run under one tracer
    with Tracer() as tracer:
        with pytest.raises(ValueError, match="boom"):
            Failing()(torch.randn(1, 2))
        model(torch.randn(1, 2)).sum().backward()

    # Then the normal model's nodes carry its own paths, and Module.__call__ is torch's own again
    used = {node.module for node in tracer.backwards[0].graph.nodes} - {None}
    assert used == {"0"}
    assert nn.Module.__call__ is call_before


def test_a_warning_raised_in_a_forward_names_the_same_line_as_without_gradviz() -> None:
    # Given a module whose forward warns with a stacklevel (softmax without dim)
    x = torch.ones(2, 3, requires_grad=True)

    def warning_site() -> tuple[str, int]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nn.Softmax()(x)
        (warning,) = caught
        return warning.filename, warning.lineno

    # When it runs plain and while module paths are recorded
    plain = warning_site()
    with Tracer():
        traced = warning_site()

    # Then the warning names the same file and line
    assert traced == plain


class Around(nn.Module):
    """Makes nodes of its own before, between and after its inner modules' calls."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.a(x * 2)
        d = self.b(c.tanh())
        return self.skip(d).relu() + c


def test_nodes_an_outer_module_makes_around_its_inner_calls_carry_its_path() -> None:
    # Given a module whose own ops surround two inner Linear calls (and an Identity), inside a Sequential
    model = nn.Sequential(Around(), nn.Linear(4, 1))
    x = torch.randn(2, 4, requires_grad=True)

    # When traced
    with Tracer() as tracer:
        model(x).mean().backward()

    # Then the outer module's own ops carry its path, each Linear's addmm its own, the mean none
    graph = tracer.backwards[0].graph
    made = Counter((node.name, node.module) for node in graph.nodes if node.name != "AccumulateGrad")
    assert made == Counter(
        {
            ("MeanBackward0", None): 1,
            ("AddmmBackward0", "1"): 1,
            ("TBackward0", "1"): 1,
            ("AddBackward0", "0"): 1,
            ("ReluBackward0", "0"): 1,
            ("AddmmBackward0", "0.b"): 1,
            ("TBackward0", "0.b"): 1,
            ("TanhBackward0", "0"): 1,
            ("AddmmBackward0", "0.a"): 1,
            ("TBackward0", "0.a"): 1,
            ("MulBackward0", "0"): 1,
        }
    )


class Helper(nn.Module):
    """Calls a module it keeps in a plain list (not a submodule), then its own head."""

    def __init__(self) -> None:
        super().__init__()
        self.helpers = [nn.Tanh()]  # not registered: named_modules() does not list it
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.helpers[0](x))


def test_a_module_outside_the_tree_counts_as_its_caller_and_a_submodule_added_later_gets_its_path() -> None:
    # Given a model that calls an unregistered module, traced once
    torch.manual_seed(0)
    model = Helper()
    x = torch.randn(4, 3, requires_grad=True)
    with Tracer() as first:
        model(x).sum().backward()

    # When a submodule is added between two traced calls
    model.head = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())
    with Tracer() as second:
        model(x).sum().backward()

    # Then the unregistered Tanh's node carries its caller's path, and the new submodules their own
    def paths(tracer: Tracer) -> dict[str, str | None]:
        return {node.name: node.module for node in tracer.backwards[0].graph.nodes}

    assert paths(first)["TanhBackward0"] == ""
    assert paths(first)["AddmmBackward0"] == "head"
    assert paths(second)["TanhBackward0"] == ""
    assert paths(second)["AddmmBackward0"] == "head.0"
    assert paths(second)["SigmoidBackward0"] == "head.1"
    assert {info.path: info.type for info in second.backwards[0].graph.modules} == {
        "": "Helper",
        "head": "Sequential",
        "head.0": "Linear",
        "head.1": "Sigmoid",
    }
