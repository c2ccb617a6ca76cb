"""Random small expression graphs: the capture equals a direct walk, and everything downstream holds."""

from __future__ import annotations

from collections import Counter

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.capture.session import Tracer
from gradviz.render.dot import to_dot
from gradviz.render.json import from_json, to_json
from gradviz.render.svg import to_svg
from gradviz.render.text import to_text

UNARY = {
    "sin": torch.sin,
    "exp": lambda t: (t * 0.1).exp(),
    "tanh": torch.tanh,
    "square": lambda t: t**2,
    "neg": torch.neg,
}
BINARY = {"add": torch.add, "mul": torch.mul, "sub": torch.sub}

operation = st.one_of(
    st.tuples(st.sampled_from(sorted(UNARY)), st.integers(0, 50)),
    st.tuples(st.sampled_from(sorted(BINARY)), st.integers(0, 50), st.integers(0, 50)),
)
program = st.tuples(st.integers(1, 3), st.lists(operation, min_size=1, max_size=12))


def run(leaf_count: int, ops: list[tuple[object, ...]]) -> tuple[list[torch.Tensor], torch.Tensor]:
    leaves = [torch.linspace(-1, 1, 3).add(i).requires_grad_() for i in range(leaf_count)]
    pool: list[torch.Tensor] = list(leaves)
    for op in ops:
        name = str(op[0])
        picks = [pool[int(index) % len(pool)] for index in op[1:]]  # type: ignore[call-overload]
        pool.append(UNARY[name](*picks) if name in UNARY else BINARY[name](*picks))
    return leaves, pool[-1].sum()


def direct_walk(root: torch.Tensor) -> tuple[Counter[str], Counter[tuple[str, str, int]]]:
    """An independent walk: node names, and (source, target, times linked) for each distinct link."""
    seen: dict[int, object] = {}
    stack = [root.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen[id(fn)] = fn
        stack.extend(next_fn for next_fn, _ in fn.next_functions if next_fn is not None)
    names = Counter(type(fn).__name__ for fn in seen.values())
    links: Counter[tuple[str, str, int]] = Counter()
    for fn in seen.values():
        targets: dict[int, int] = {}
        for next_fn, _ in fn.next_functions:  # type: ignore[attr-defined]
            if next_fn is not None:
                targets[id(next_fn)] = targets.get(id(next_fn), 0) + 1
        for target, uses in targets.items():
            links[(type(fn).__name__, type(seen[target]).__name__, uses)] += 1
    return names, links


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program)
def test_random_graphs_capture_exactly_and_render(case: tuple[int, list[tuple[object, ...]]]) -> None:
    leaf_count, ops = case
    with Tracer() as tracer:
        leaves, loss = run(leaf_count, ops)
        names, links = direct_walk(loss) if loss.grad_fn is not None else (Counter(), Counter())
        if loss.grad_fn is None:
            return
        loss.backward()
    trace = tracer.result()
    (call,) = trace.backwards

    # the graph is exactly the one next_functions holds
    assert Counter(node.name for node in call.nodes) == names
    recorded = Counter(
        (call.nodes[edge.source].name, call.nodes[edge.target].name, len(edge.slots)) for edge in call.edges
    )
    assert recorded == links
    # every node ran once, and each leaf's recorded grad is torch's
    assert sorted(step.node for step in call.steps) == list(range(len(call.nodes)))
    for node in call.graph.leaves:
        assert node.tensor is not None and node.tensor.grad_after is not None
        assert node.tensor.label is not None and node.tensor.label.startswith("leaves[")
        leaf = leaves[int(node.tensor.label.removeprefix("leaves[").removesuffix("]"))]
        assert torch.allclose(torch.tensor(node.tensor.grad_after.values), leaf.grad)
    # JSON round-trips and every renderer succeeds
    assert from_json(to_json(trace)) == trace
    for step in (None, 0, len(call.steps)):
        assert "digraph" in to_dot(call, step=step)
    assert "AccumulateGrad" in to_text(call)
    assert "</svg>" in to_svg(call)
