"""The Tracer against PyTorch itself: recorded gradients, v and vJ must equal what torch computes."""

from __future__ import annotations

import gc
import warnings
import weakref

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, Node, Value
from gradviz.render.dot import to_dot


def as_tensor(value: Value | None) -> torch.Tensor:
    assert value is not None and value.values is not None
    return torch.tensor(value.values, dtype=torch.float64)


def close(value: Value | None, expected: torch.Tensor) -> bool:
    return torch.allclose(
        as_tensor(value), expected.detach().to(torch.float64).reshape(value.shape if value else ())
    )


def node_labelled(call: BackwardCall, label: str) -> Node:
    matches = [node for node in call.nodes if node.tensor is not None and node.tensor.label == label]
    assert len(matches) == 1, f"expected one node labelled {label!r}, found {matches}"
    return matches[0]


def step_of(call: BackwardCall, node: Node):  # type: ignore[no-untyped-def]
    (step,) = [step for step in call.steps if step.node == node.id]
    return step


def direct_walk(root: torch.Tensor) -> tuple[set[str], list[tuple[str, str]]]:
    """An independent walk of next_functions: node type names and (source, target) name pairs."""
    seen: dict[int, object] = {}
    edges = set()
    stack = [root.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen[id(fn)] = fn
        for next_fn, _ in fn.next_functions:
            if next_fn is not None:
                edges.add((id(fn), id(next_fn)))
                stack.append(next_fn)
    names = {key: type(fn).__name__ for key, fn in seen.items()}
    return set(names.values()), sorted((names[a], names[b]) for a, b in edges)


def recorded_edges(call: BackwardCall) -> list[tuple[str, str]]:
    return sorted((call.nodes[edge.source].name, call.nodes[edge.target].name) for edge in call.edges)


def test_tutorial_chain_records_what_torch_computes() -> None:
    # Given the tutorial chain x -> y = x**2 -> z = 3*y*y -> out = z.mean(), with retained grads as reference
    with Tracer() as tracer:
        x = torch.ones(2, 2, requires_grad=True)
        y = x**2
        z = 3 * y * y
        out = z.mean()
        y.retain_grad()
        z.retain_grad()
        out.backward()
    (call,) = tracer.backwards

    # Then the graph is exactly what next_functions holds
    names, edges = direct_walk(out)
    assert {node.name for node in call.nodes} == names
    assert recorded_edges(call) == edges
    assert call.api == "backward" and call.location is not None and call.location.code == "out.backward()"

    # And v into each node is the gradient of the loss with respect to that node's output
    assert close(step_of(call, node_labelled(call, "out")).grad_outputs[0], torch.tensor(1.0))
    assert close(step_of(call, node_labelled(call, "z")).grad_outputs[0], z.grad)
    assert close(step_of(call, node_labelled(call, "y")).grad_outputs[0], y.grad)

    # And the leaf's .grad before and after are what torch has
    leaf = node_labelled(call, "x")
    assert leaf.name == "AccumulateGrad" and leaf.tensor is not None and leaf.tensor.is_leaf
    assert leaf.tensor.grad_before is None
    assert close(leaf.tensor.grad_after, x.grad)
    assert close(step_of(call, leaf).grad_outputs[0], x.grad)
    assert step_of(call, leaf).grad_inputs == ()


def test_each_vjp_equals_autograd_grad_with_that_v() -> None:
    # Given a graph without shared subexpressions, so each vJ is a full partial derivative
    with Tracer() as tracer:
        x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = torch.tensor([1.5, 2.0, -0.5], requires_grad=True)
        a = x * 2
        b = a.exp()
        c = b * w
        loss = c.sum()
        loss.backward(retain_graph=True)
    (call,) = tracer.backwards
    tensors = {"x": x, "w": w, "a": a, "b": b, "c": c, "loss": loss}
    checked = 0
    for step in call.steps:
        node = call.nodes[step.node]
        if node.is_accumulate_grad or node.tensor is None or node.tensor.label not in tensors:
            continue
        output = tensors[node.tensor.label]
        v = as_tensor(step.grad_outputs[0]).to(output.dtype).reshape(output.shape)
        for edge in call.edges:
            if edge.source != node.id:
                continue
            target = call.nodes[edge.target]
            assert target.tensor is not None and target.tensor.label in tensors
            (expected,) = torch.autograd.grad(output, tensors[target.tensor.label], v, retain_graph=True)
            for slot in edge.slots:
                assert close(step.grad_inputs[slot], expected)
                checked += 1
    assert checked == 5  # loss -> c, c -> b, c -> w, b -> a, a -> x


def test_jacobian_is_the_real_local_jacobian_and_v_times_j_is_vj() -> None:
    with Tracer() as tracer:
        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = x**2
        y.sum().backward()
    call = tracer.backwards[0]
    pow_step = step_of(call, node_labelled(call, "y"))
    expected = torch.autograd.functional.jacobian(lambda t: t**2, x.detach()).reshape(4, 4)
    assert close(pow_step.jacobians[0], expected)
    for step in call.steps:
        for slot, jacobian in enumerate(step.jacobians):
            if jacobian is None:
                continue
            v = as_tensor(step.grad_outputs[0]).reshape(-1)
            assert close(step.grad_inputs[slot], v @ as_tensor(jacobian))


def test_shared_input_is_one_node_with_both_slots() -> None:
    with Tracer() as tracer:
        a = torch.tensor([1.0, 2.0], requires_grad=True)
        out = (a * a + a).sum()
        out.backward()
    call = tracer.backwards[0]
    leaf = node_labelled(call, "a")
    assert [node.name for node in call.nodes].count("AccumulateGrad") == 1
    mul = next(node for node in call.nodes if node.name == "MulBackward0")
    (edge,) = [edge for edge in call.edges if edge.source == mul.id]
    assert edge.target == leaf.id and edge.slots == (0, 1)
    assert close(leaf.tensor.grad_after if leaf.tensor else None, a.grad)


def test_non_scalar_backward_records_the_v_it_was_given() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 3
        v = torch.tensor([0.1, 1.0, 10.0])
        y.backward(gradient=v)
    (root,) = tracer.backwards[0].graph.roots
    assert root.label == "y" and close(root.gradient, v)
    assert close(node_labelled(tracer.backwards[0], "x").tensor.grad_after, x.grad)  # type: ignore[union-attr]


def test_retain_graph_accumulates_and_is_one_note() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, -2.0], requires_grad=True)
        loss = (x**3).sum()
        loss.backward(retain_graph=True)
        first = x.grad.clone()
        loss.backward(retain_graph=True)
        loss.backward()
    calls = tracer.backwards
    assert [call.retain_graph for call in calls] == [True, True, False]
    second_leaf = node_labelled(calls[1], "x").tensor
    assert second_leaf is not None
    assert close(second_leaf.grad_before, first) and close(second_leaf.grad_after, 2 * first)
    assert close(node_labelled(calls[2], "x").tensor.grad_after, x.grad)  # type: ignore[union-attr]
    # x was not updated between the calls: gradient accumulation, a note, not a warning
    (accumulation,) = [finding for finding in tracer.findings if finding.kind == "accumulation"]
    assert (accumulation.call, accumulation.severity) == (2, "note")
    assert "x.grad" in accumulation.message and "gradient accumulation" in accumulation.message


def test_autograd_grad_with_create_graph_and_second_order() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x**3).sum()
        (first,) = torch.autograd.grad(y, x, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), x)
    one, two = tracer.backwards
    assert (one.api, one.create_graph, two.api) == ("grad", True, "grad")
    assert close(one.results[0], first) and close(two.results[0], second)
    assert close(two.results[0], 6 * x)
    # the second call runs over the graph that the first call's backward recorded
    assert any(node.name == "PowBackward0" for node in two.nodes)
    assert len(two.nodes) > len(one.nodes)
    # grad() does not touch .grad: the leaf shows none before or after
    leaf = node_labelled(one, "x").tensor
    assert leaf is not None and leaf.grad_before is None and leaf.grad_after is None and x.grad is None
    assert one.inputs == (node_labelled(one, "x").id,)


class Double(torch.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, tensor):  # type: ignore[no-untyped-def, override]
        ctx.save_for_backward(tensor)
        return tensor * 2

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def, override]
        Double.calls += 1
        return grad * 2


def test_custom_function_is_captured_and_its_backward_runs_once() -> None:
    Double.calls = 0
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = Double.apply(x)
        y.sum().backward()
    call = tracer.backwards[0]
    node = node_labelled(call, "y")
    assert node.name == "DoubleBackward"
    assert [saved.name for saved in node.saved] == ["saved_tensors[0]"]
    assert node.saved[0].source == node_labelled(call, "x").id
    assert close(step_of(call, node).grad_inputs[0], torch.tensor([2.0, 2.0]))
    assert Double.calls == 1  # gradviz never calls user code to build a Jacobian


def test_module_parameters_are_named_by_their_path() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with Tracer() as tracer:
        loss = model(torch.randn(5, 3)).pow(2).mean()
        loss.backward()
    call = tracer.backwards[0]
    labels = {node.tensor.label for node in call.nodes if node.is_accumulate_grad and node.tensor}
    assert labels == {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}
    weight = node_labelled(call, "model.2.weight")
    assert close(weight.tensor.grad_after, model[2].weight.grad)  # type: ignore[union-attr]


def test_twenty_thousand_node_graph_needs_no_recursion() -> None:
    with Tracer(jacobians=False) as tracer:
        x = torch.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(20_000):
            y = y + 1
        y.backward()
    call = tracer.backwards[0]
    assert len(call.nodes) == 20_001
    assert len(call.steps) == 20_001
    assert close(node_labelled(call, "x").tensor.grad_after, x.grad)  # type: ignore[union-attr]


def test_multiple_roots_in_one_call() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        a = (x * 2).sum()
        b = (x**2).sum()
        torch.autograd.backward([a, b])
    call = tracer.backwards[0]
    assert [root.label for root in call.graph.roots] == ["a", "b"]
    assert close(node_labelled(call, "x").tensor.grad_after, x.grad)  # type: ignore[union-attr]


def test_calls_past_the_budget_are_counted_and_summarised_not_captured() -> None:
    with Tracer(max_backward=2) as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        for _ in range(5):
            w.grad = None
            (w * w).sum().backward()
    assert tracer.backward_calls == 5 and len(tracer.backwards) == 2
    (summary,) = tracer.result().uncaptured
    assert summary.label == "w" and summary.calls == 3
    assert summary.grad_after is not None and summary.grad_after.norm == pytest.approx(float(w.grad.norm()))


def test_uncaptured_calls_keep_nothing_alive() -> None:
    with Tracer(max_backward=1) as tracer:
        refs = []
        for _ in range(200):
            model = torch.nn.Linear(4, 4)
            model(torch.ones(1, 4)).sum().backward()
            refs.append(weakref.ref(model.weight))
        del model
    gc.collect()
    assert tracer.backward_calls == 200
    # refs[0] belongs to the captured call: reading this function's f_locals to find names leaves
    # CPython (before 3.13) holding a snapshot of them until the function returns.
    assert all(ref() is None for ref in refs[1:])


def test_user_hooks_and_retain_grad_still_work() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.retain_grad()
        y.register_hook(lambda grad: grad * 10)
        y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([30.0, 30.0]))
    assert torch.equal(y.grad, torch.tensor([10.0, 10.0]))
    # the v gradviz shows is the one the node really used, after the user's hook
    assert close(
        step_of(tracer.backwards[0], node_labelled(tracer.backwards[0], "y")).grad_outputs[0], y.grad
    )


def test_a_failure_inside_gradviz_degrades_and_backward_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("summary exploded")

    monkeypatch.setattr("gradviz.capture.call.leaf_grad_values", broken)  # the leaves' .grad after the call
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([2.0, 4.0]))
    problems = [finding for finding in tracer.findings if finding.kind == "capture_problem"]
    assert problems and "summary exploded" in problems[0].message


def test_hooks_are_removed_after_the_call() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0], requires_grad=True)
        loss = (x * 2).sum()
        loss.backward(retain_graph=True)
    loss.backward()  # outside the tracer: gradviz hooks must not fire or fail
    assert len(tracer.backwards) == 1 and len(tracer.backwards[0].steps) == 3
    assert torch.equal(x.grad, torch.tensor([4.0]))


def test_tracer_restores_torch_and_passes_exceptions_through() -> None:
    original = torch.autograd._engine_run_backward
    with pytest.raises(RuntimeError, match="does not require grad"), Tracer():
        torch.ones(2).sum().backward()
    assert torch.autograd._engine_run_backward is original


def test_saved_tensor_lists_are_listed_one_by_one() -> None:
    # IndexBackward0 saves its index tensors as a list: each one is shown under its position
    with Tracer() as tracer:
        a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a[torch.tensor([0, 2])].sum().backward()
    index = next(node for node in tracer.backwards[0].nodes if node.name == "IndexBackward0")
    assert [(saved.name, saved.value.values) for saved in index.saved] == [("indices[0]", (0, 2))]


def test_findings_read_in_the_order_of_the_lines_they_concern() -> None:
    # the .data edit is found during backward, the no_grad region during forward: lines decide the order
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        loss = (w * w).sum()
        with torch.no_grad():
            frozen = w * 2  # noqa: F841
        w.data *= 10
        loss.backward()
    kinds = [finding.kind for finding in tracer.findings if finding.kind in ("no_grad", "data_edit")]
    assert kinds == ["no_grad", "data_edit"]
    lines = [finding.location.line for finding in tracer.findings if finding.location is not None]
    assert lines == sorted(lines)


def test_calls_past_the_budget_follow_the_leaves_the_captured_calls_saw() -> None:
    # Given: a loop that never clears w.grad and makes a fresh leaf each iteration
    with Tracer(max_backward=1) as tracer:
        w = torch.tensor([1.0], requires_grad=True)
        for _ in range(50):
            fresh = torch.ones(1, requires_grad=True)
            fresh.grad = torch.ones(1)  # non-zero before backward: accumulation
            (w * fresh).sum().backward()
    # Then: w, seen in the captured call, is followed through the 49 later calls; the later fresh
    # leaves are not (nothing grows with the number of iterations)
    (summary,) = tracer.result().uncaptured
    assert (summary.label, summary.calls) == ("w", 49)
    assert summary.grad_after is not None and summary.grad_after.norm == pytest.approx(float(w.grad.norm()))
    # w is never updated: its 50 calls are gradient accumulation, one note (fresh's hand-set .grad too)
    accumulation = [(f.severity, f.call, f.count) for f in tracer.findings if f.kind == "accumulation"]
    assert accumulation == [("note", 1, 50)]
    assert w.grad.item() == pytest.approx(50.0)
    assert not w._backward_hooks and not w._post_accumulate_grad_hooks  # gradviz's hooks are gone


def test_after_the_budget_a_long_loop_records_nothing_that_grows() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with Tracer(max_backward=2) as tracer:
        sizes = []
        for iteration in range(1_000):
            optimizer.zero_grad()
            model(torch.randn(4, 3)).pow(2).mean().backward()
            optimizer.step()
            if iteration in (10, 999):
                sizes.append((len(tracer.events), len(tracer.findings), len(tracer.result().uncaptured)))
    assert sizes[0] == sizes[1]
    assert tracer.backward_calls == 1_000 and len(tracer.backwards) == 2


def test_modules_kept_in_a_plain_list_are_named_by_position() -> None:
    layers = [torch.nn.Linear(2, 2) for _ in range(3)]
    with Tracer() as tracer:
        hidden = torch.ones(1, 2)
        for layer in layers:
            hidden = layer(hidden)
        hidden.sum().backward()
    labels = {node.tensor.label for node in tracer.backwards[0].graph.leaves if node.tensor is not None}
    assert labels == {f"layers[{i}].{kind}" for i in range(3) for kind in ("weight", "bias")}


def test_a_node_that_refuses_hooks_leaves_the_call_uncaptured_but_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(self: object) -> None:
        raise RuntimeError("no hooks here")

    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        loss = (x * x).sum()
        monkeypatch.setattr("gradviz.capture.backward.StepRecorder.attach", refuse)
        loss.backward()
    assert torch.equal(x.grad, torch.tensor([2.0, 4.0]))
    assert tracer.backwards == () and tracer.backward_calls == 1
    (problem,) = [f for f in tracer.findings if f.kind == "capture_problem"]
    assert "could not be captured (no hooks here); it ran uncaptured" in problem.message


def test_without_a_timeline_backward_is_still_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise RuntimeError("mode stack is busy")

    monkeypatch.setattr("gradviz.capture.forward.ForwardRecorder.start", refuse)
    with Tracer() as tracer:
        x = torch.tensor([3.0], requires_grad=True)
        (x * x).sum().backward()
    assert close(tracer.backwards[0].nodes[-1].tensor.grad_after, x.grad)  # type: ignore[union-attr]
    assert tracer.events == ()
    assert any("mode stack is busy" in f.message for f in tracer.findings if f.kind == "capture_problem")


def test_torch_compile_under_the_tracer_gives_the_same_gradient_without_dynamo_warnings() -> None:
    def loss_of(x: torch.Tensor) -> torch.Tensor:
        return (x.sin() * 2).sum()

    x = torch.tensor([0.1, 0.2, 0.3], requires_grad=True)
    (expected,) = torch.autograd.grad(loss_of(x), x)
    torch._dynamo.reset()
    compiled = torch.compile(loss_of, backend="eager")
    with warnings.catch_warnings(record=True) as caught, Tracer() as tracer:
        warnings.simplefilter("always")
        compiled(x).backward()
    assert torch.allclose(x.grad, expected)
    assert not [w for w in caught if "Dynamo" in str(w.message)]
    assert close(node_labelled(tracer.backwards[0], "x").tensor.grad_after, expected)  # type: ignore[union-attr]


def test_leaves_carry_the_line_that_made_them_without_widening_the_overlay_window() -> None:
    with Tracer() as tracer:
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        w.data *= 3  # before the graph used w: it does not concern this graph
        loss = (w * w).sum()
        loss.backward()
    (leaf,) = tracer.backwards[0].graph.leaves
    assert leaf.location is not None
    assert leaf.location.code == "w = torch.tensor([1.0, 2.0], requires_grad=True)"
    assert tracer.backwards[0].graph.overlays == ()
    assert "made at " in to_dot(tracer.backwards[0])


def test_a_finished_tracer_keeps_no_exception_and_so_none_of_its_frames_alive() -> None:
    # The last tracer stays reachable (gradviz.explain uses it); an exception it explained must not,
    # or its traceback would keep the failing frames and their tensors alive.
    refs: list[weakref.ref[torch.Tensor]] = []

    def fail() -> None:
        x = torch.ones(2, requires_grad=True)
        refs.append(weakref.ref(x))
        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()

    with pytest.raises(RuntimeError, match="inplace"), Tracer():
        fail()
    gc.collect()
    assert refs[0]() is None


def test_jacobian_to_a_broadcast_input_has_one_column_per_element_of_that_input() -> None:
    # Given b of one element broadcast against x: MulBackward0 returns a [3] gradient for b, which
    # the engine sums to b's shape [1]
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = torch.tensor([0.5], requires_grad=True)
        y = x * b
        y.sum().backward()
    call = tracer.backwards[0]
    mul = step_of(call, node_labelled(call, "y"))

    # Then J to b is dy/db as torch computes it (3 x 1), and v @ J is what b received: b.grad
    expected = torch.autograd.functional.jacobian(lambda t: x.detach() * t, b.detach()).reshape(3, 1)
    assert mul.jacobians[1] is not None and mul.jacobians[1].shape == (3, 1)
    assert close(mul.jacobians[1], expected)
    v = as_tensor(mul.grad_outputs[0]).reshape(-1)
    assert close(mul.grad_inputs[1], v @ as_tensor(mul.jacobians[1]))
    assert b.grad is not None and close(mul.grad_inputs[1], b.grad)
