"""The state after step k: the single source of truth the SVG, HTML, text and TUI share."""

from __future__ import annotations

from gradviz.model import BackwardCall, Graph
from gradviz.render.state import step_state


def test_state_after_each_step_follows_the_recorded_steps(call: BackwardCall) -> None:
    for k in range(len(call.steps) + 1):
        state = step_state(call, k)

        assert state.done == {step.node for step in call.steps[:k]}
        assert state.current == (call.steps[k - 1].node if k else None)


def test_flows_map_each_slot_to_its_next_function(call: BackwardCall) -> None:
    state = step_state(call)

    assert [value.values if value else None for value in state.flows[(2, 3)]] == [(1.5, 6.0), (1.5, 6.0)]
    assert state.flows[(3, 4)][0] is not None and state.flows[(3, 4)][0].values == (6.0, 48.0)
    assert (1, 2) in state.flows and len(state.flows[(1, 2)]) == 1  # slot 1 (the constant 3) has no node


def test_leaf_grad_switches_from_before_to_after_when_accumulate_grad_runs(call: BackwardCall) -> None:
    leaf = call.graph.nodes[4]

    assert step_state(call, 4).grad_of(leaf) is None
    after = step_state(call, 5).grad_of(leaf)
    assert after is not None and after.values == (6.0, 48.0)


def test_a_graph_snapshot_shows_final_grads_and_nothing_pending(graph: Graph) -> None:
    state = step_state(graph)

    assert state.total == 0 and not state.is_pending(0)
    assert state.grad_of(graph.nodes[4]) == graph.nodes[4].tensor.grad_after  # type: ignore[union-attr]
