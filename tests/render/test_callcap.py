"""trace.json's size bound on captured calls: whole while they fit, then thinned, then left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradviz.model import BackwardCall, Edge, Graph, Location, Node, Root, Step, TensorInfo, Trace, Value
from gradviz.output import write_outputs
from gradviz.render import callcap
from gradviz.render.callcap import bound_note, bounded_calls, bounded_trace, thin
from gradviz.render.dot import to_dot
from gradviz.render.json import from_json, to_json
from gradviz.render.summary import summarize
from gradviz.render.text import to_text


def _value(scale: float) -> Value:
    values = tuple(scale * (i + 1) for i in range(4))
    return Value((4,), "float32", values, min(values), max(values), sum(values) / 4, scale)


def _chain_call(index: int, length: int) -> BackwardCall:
    """A call over ``y = y * 1.0001`` run `length` times on a 4-element leaf, every step recorded."""
    where = Location("chain.py", 6, "<module>", "y = y * 1.0001")
    nodes = [
        Node(i, "MulBackward0", where, TensorInfo(None, (4,), "float32", "cpu", id=i)) for i in range(length)
    ]
    leaf = TensorInfo(
        "x", (4,), "float32", "cpu", is_leaf=True, grad_before=_value(index - 1), grad_after=_value(index)
    )
    nodes.append(Node(length, "AccumulateGrad", Location("chain.py", 2), leaf))
    edges = tuple(Edge(i, i + 1) for i in range(length))
    steps = tuple(Step(i, (_value(1.0),), (_value(1.0),) if i < length else ()) for i in range(length + 1))
    graph = Graph(tuple(nodes), edges, (Root(0, None, _value(1.0)),))
    return BackwardCall(index, "backward", Location("chain.py", 7), graph, steps)


def _chain_trace(calls: int, length: int) -> Trace:
    return Trace(
        "2.13.0", "chain.py", calls, backwards=tuple(_chain_call(i + 1, length) for i in range(calls))
    )


def _size(trace: Trace) -> int:
    return len(to_json(trace).encode())


def test_a_trace_that_fits_is_written_whole() -> None:
    trace = _chain_trace(3, 50)

    assert bounded_calls(trace) is trace
    assert bound_note(trace) is None


def test_calls_past_the_bound_are_thinned_then_left_out_and_the_file_stays_under_it() -> None:
    # Given three calls over a 400-node chain, and a bound with room for one whole call and one thinned
    trace = _chain_trace(3, 400)
    whole = _size(_chain_trace(1, 400))
    thinned = _size(Trace("2.13.0", "chain.py", 1, backwards=(thin(trace.backwards[1]),))) - _size(
        Trace("2.13.0", "chain.py", 1)
    )
    limit = whole + thinned + 12_000

    # When the calls are bounded
    kept = bounded_calls(trace, limit)

    # Then call 1 is whole, call 2 keeps its graph with statistics but no steps, call 3 is listed as left out
    assert kept.backwards[0] == trace.backwards[0]
    second = kept.backwards[1]
    assert second.thinned and second.steps == () and second.index == 2
    assert [node.name for node in second.nodes] == [node.name for node in trace.backwards[1].nodes]
    assert second.edges == trace.backwards[1].edges
    grad = second.graph.leaves[0].tensor
    assert grad is not None and grad.grad_after is not None
    assert grad.grad_after.values is None and grad.grad_after.norm == 2.0 and grad.grad_after.mean == 5.0
    assert kept.calls_left_out == (3,)
    text = to_json(kept)
    assert len(text.encode()) <= limit
    # and the file says so, and reads back as it was written
    data = json.loads(text)
    assert data["calls_left_out"] == [3] and data["backwards"][1]["thinned"] is True
    assert "thinned" not in data["backwards"][0]
    assert from_json(text) == kept


def test_a_thinned_call_still_draws_and_prints(tmp_path: Path) -> None:
    call = thin(_chain_call(2, 5))

    assert "MulBackward0" in to_dot(call)
    assert "AccumulateGrad" in to_text(call)


def test_the_summary_says_in_one_line_what_trace_json_left_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a bound of 90 kB and three calls of about 47 kB each (about 27 kB thinned)
    trace = _chain_trace(3, 80)
    monkeypatch.setattr(callcap, "MAX_BYTES", 90_000)
    assert 40_000 < _size(_chain_trace(1, 80)) < 50_000

    # When gradviz trace writes it and prints the summary
    written = write_outputs(trace, tmp_path, ["dot"])
    text = summarize(trace, written, tmp_path)

    # Then trace.json is under the bound, and one line names the calls it thinned and left out
    assert (tmp_path / "trace.json").stat().st_size <= 90_000
    assert from_json((tmp_path / "trace.json").read_text()) == bounded_trace(trace)
    lines = [line for line in text.splitlines() if "trace.json kept under" in line]
    assert lines == [
        "  trace.json kept under 0.09 MB: call 2 without steps or values; call 3 left out"
        " (the drawings show them whole)"
    ]
    # and the drawings are made from every call, whole
    assert sorted(path.name for path in written if path.suffix == ".dot") == [
        "backward-001.dot",
        "backward-002.dot",
        "backward-003.dot",
    ]
