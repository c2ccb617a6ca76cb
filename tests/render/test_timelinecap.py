"""trace.json stays bounded: a long timeline keeps its special events and the graph's ops, counts the rest."""

from __future__ import annotations

import json
from pathlib import Path

from gradviz.model import BackwardCall, Event, Graph, Location, Node, Trace
from gradviz.output import write_outputs
from gradviz.render.json import from_json
from gradviz.render.timelinecap import MAX_EVENTS, bounded_timeline

EVAL_LINE = Location("train.py", 20, "<module>", "out = model(x)")
TRAIN_LINE = Location("train.py", 9, "<module>", "loss = model(x).sum()")


def long_loop_trace(evaluation_ops: int) -> Trace:
    """A training step whose graph has 2 nodes, then an evaluation of many plain ops with one detach."""
    events = [
        Event(0, "op", "mul", TRAIN_LINE, outputs=(1,), grad_fn="MulBackward0"),
        Event(1, "op", "sum", TRAIN_LINE, inputs=(1,), outputs=(2,), grad_fn="SumBackward0"),
        Event(2, "backward", "Tensor.backward", TRAIN_LINE),
    ]
    for _ in range(evaluation_ops):
        events.append(Event(len(events), "op", "linear", EVAL_LINE, grad_fn="AddmmBackward0"))
        if len(events) == 1000:
            events.append(Event(len(events), "detach", "Tensor.detach", EVAL_LINE))
    nodes = (Node(0, "SumBackward0", event=1), Node(1, "MulBackward0", event=0))
    call = BackwardCall(1, "backward", TRAIN_LINE, Graph(nodes=nodes, edges=()))
    return Trace("2.13.0", events=tuple(events), backwards=(call,))


def test_a_short_timeline_is_written_as_recorded() -> None:
    trace = long_loop_trace(100)

    assert bounded_timeline(trace) is trace


def test_a_long_timeline_keeps_at_most_the_cap_with_every_special_and_graph_event() -> None:
    # Given: 3 training events, 50,000 evaluation ops and one detach among them
    trace = long_loop_trace(50_000)

    # When
    bounded = bounded_timeline(trace)

    # Then: the cap holds, the graph's ops, the backward and the detach are kept in order, and the
    # left-out ops are counted on their line, so that every event is either kept or counted
    kept = {event.id: event for event in bounded.events}
    assert len(bounded.events) == MAX_EVENTS
    assert [event.id for event in bounded.events] == sorted(kept)
    assert {0, 1, 2, 1000} <= set(kept) and kept[1000].kind == "detach"
    (counted,) = bounded.event_counts
    left_out = len(trace.events) - MAX_EVENTS
    assert (counted.op, counted.location, counted.count) == ("linear", EVAL_LINE, left_out)
    assert counted.first > 2 and counted.last == len(trace.events) - 1
    # the evaluation ops kept are the ones nearest the backward call
    assert sorted(kept) == list(range(MAX_EVENTS))


def test_trace_json_of_a_long_loop_holds_the_cap_and_reads_back(tmp_path: Path) -> None:
    trace = long_loop_trace(50_000)

    write_outputs(trace, tmp_path, ("dot",))

    text = (tmp_path / "trace.json").read_text(encoding="utf-8")
    assert len(json.loads(text)["events"]) == MAX_EVENTS
    assert from_json(text) == bounded_timeline(trace)
