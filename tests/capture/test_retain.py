"""retain_graph: what backward freed, a second run failing where torch fails, why x + 2 runs twice."""

from __future__ import annotations

import html

import pytest
import torch

from gradviz.capture.session import Tracer
from gradviz.render.dot import to_dot


def test_a_second_backward_through_saved_tensors_fails_at_the_node_that_needed_them() -> None:
    # Given: y = (x * x).sum() run backward twice without retain_graph
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time") as raised:
            y.backward()
    first, second = tracer.result().backwards
    # Then: the first drawing says MulBackward0's saved tensors were freed after it ran
    assert "saved tensors freed after it ran (retain_graph=False)" in html.unescape(to_dot(first))
    # and the second failed, as torch did, at MulBackward0, which says which call freed its saved tensors
    assert second.error is not None and second.error.message == str(raised.value)
    failed = second.graph.node(second.error.node)  # type: ignore[arg-type]
    assert failed.name == "MulBackward0" and failed.freed_by == 1
    dot = html.unescape(to_dot(second))
    assert "its saved tensors were freed by backward call 1," in dot and "raised here: RuntimeError" in dot


def test_a_graph_with_no_saved_tensors_runs_twice_and_the_note_says_why() -> None:
    # Given: z = (x + 2).sum() run backward twice without retain_graph
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        z = (x + 2).sum()
        z.backward()
        z.backward()
    trace = tracer.result()
    # Then: both calls ran (torch added twice), nothing in either drawing claims freed tensors it needed
    assert x.grad.tolist() == [2.0, 2.0]  # type: ignore[union-attr]
    second = trace.backwards[1]
    assert second.error is None and {n.freed_by for n in second.graph.nodes if not n.is_accumulate_grad} == {
        1
    }
    assert "it saved no tensors, so nothing it needs was freed" in html.unescape(to_dot(second))
    [note] = [f for f in trace.findings if f.kind == "retain_graph"]
    assert note.severity == "note" and note.call == 2
    assert "saved no tensors for backward" in note.message and "AddBackward0" in note.message


def test_retain_graph_true_frees_nothing() -> None:
    with Tracer() as tracer:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
    first, second = tracer.result().backwards
    assert "freed" not in to_dot(first)
    assert second.error is None and x.grad.tolist() == [4.0, 8.0]  # type: ignore[union-attr]
    assert all(node.freed_by is None for node in second.graph.nodes)
