"""trace.json: the CONTRACT's field names, exact round-trips, and one-line errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.errors import TraceFileError
from gradviz.model import (
    BackwardCall,
    Edge,
    Event,
    Finding,
    Graph,
    LeafSummary,
    Location,
    ModuleInfo,
    Node,
    Overlay,
    Root,
    SavedTensor,
    Step,
    TensorInfo,
    Trace,
    Value,
)
from gradviz.render.json import (
    call_from_json,
    call_to_json,
    from_json,
    graph_from_json,
    graph_to_json,
    to_json,
)

from .conftest import GOLDEN

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
maybe_float = st.none() | finite
names = st.none() | st.text(min_size=1, max_size=8)


@st.composite
def values(draw: st.DrawFn) -> Value:
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    element = draw(st.sampled_from([finite, st.integers(-5, 5), st.booleans()]))

    def nested(dims: tuple[int, ...]) -> Any:
        if not dims:
            return draw(element)
        return tuple(nested(dims[1:]) for _ in range(dims[0]))

    data = draw(st.none() | st.just(None).map(lambda _: nested(shape)))
    return Value(
        shape, draw(st.sampled_from(["float32", "int64", "bool"])), data, *draw(st.tuples(*[maybe_float] * 4))
    )


locations = st.builds(Location, st.text(max_size=10), st.integers(1, 999), names, names)
opt_values = st.none() | values()
tensors = st.builds(
    TensorInfo,
    names,
    st.tuples(st.integers(0, 4)),
    st.just("float32"),
    st.just("cpu"),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    opt_values,
    opt_values,
    st.none() | st.integers(0, 3),
    st.none() | st.integers(0, 9),
)


MODULE_PATHS = ["", "net", "net.0", "net.1", "net.0.attn", "head"]


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    count = draw(st.integers(1, 5))
    nodes = tuple(
        Node(
            i,
            draw(st.sampled_from(["MulBackward0", "AccumulateGrad", "SumBackward0"])),
            draw(st.none() | locations),
            draw(st.none() | tensors),
            tuple(
                draw(
                    st.lists(
                        st.builds(
                            SavedTensor,
                            st.text(max_size=5),
                            values(),
                            st.none() | st.integers(0, count - 1),
                            names,
                        ),
                        max_size=2,
                    )
                )
            ),
            draw(st.none() | st.integers(0, 9)),
            draw(st.none() | st.sampled_from(MODULE_PATHS)),
        )
        for i in range(count)
    )
    edges = tuple(
        Edge(i, j, tuple(draw(st.lists(st.integers(0, 2), min_size=1, max_size=2))))
        for i in range(count)
        for j in range(i + 1, count)
        if draw(st.booleans())
    )
    roots = (Root(0, draw(names), draw(opt_values)),)
    overlays = tuple(
        draw(
            st.lists(
                st.builds(
                    Overlay,
                    st.integers(0, 5),
                    st.sampled_from(["no_grad", "detach", "inplace", "data_edit", "requires_grad_off"]),
                    names,
                    st.text(max_size=20),
                    st.none() | locations,
                    st.none() | st.integers(0, count - 1),
                    st.none() | st.integers(0, 9),
                ),
                max_size=2,
            )
        )
    )
    modules = tuple(
        ModuleInfo(path, draw(st.sampled_from(["Linear", "Sequential"])), draw(st.integers(1, 3)))
        for path in draw(st.lists(st.sampled_from(MODULE_PATHS), unique=True, max_size=3))
    )
    return Graph(nodes, edges, roots, overlays, modules)


steps = st.builds(
    Step,
    st.integers(0, 4),
    st.lists(opt_values, max_size=2).map(tuple),
    st.lists(opt_values, max_size=2).map(tuple),
    st.lists(opt_values, max_size=1).map(tuple),
)
calls = st.builds(
    BackwardCall,
    st.integers(1, 20),
    st.sampled_from(["backward", "grad"]),
    st.none() | locations,
    graphs(),
    st.lists(steps, max_size=3).map(tuple),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 4), max_size=2).map(tuple),
    st.lists(opt_values, max_size=2).map(tuple),
)
events = st.builds(
    Event,
    st.integers(0, 99),
    st.sampled_from(["op", "grad_mode", "detach", "inplace", "data_read", "data_write"]),
    st.text(max_size=10),
    st.none() | locations,
    st.sampled_from(["enabled", "no_grad", "inference_mode"]),
    st.lists(st.integers(0, 9), max_size=2).map(tuple),
    st.lists(st.integers(0, 9), max_size=2).map(tuple),
    names,
    st.none() | st.integers(0, 3),
    st.none() | st.integers(0, 3),
    st.none() | st.booleans(),
    names,
)
traces = st.builds(
    Trace,
    st.just("2.13.0"),
    names,
    st.integers(0, 50),
    st.lists(events, max_size=3).map(tuple),
    st.lists(calls, max_size=2).map(tuple),
    st.lists(
        st.builds(
            Finding,
            st.just("detach"),
            st.text(max_size=20),
            st.none() | locations,
            st.none() | st.integers(1, 3),
            names,
        ),
        max_size=2,
    ).map(tuple),
    st.lists(st.builds(LeafSummary, names, st.integers(0, 9), opt_values), max_size=2).map(tuple),
    st.integers(0, 5),
)


@settings(max_examples=60, deadline=None)
@given(traces)
def test_any_trace_round_trips_exactly(trace: Trace) -> None:
    text = to_json(trace)

    assert from_json(text) == trace
    assert to_json(from_json(text)) == text


@settings(max_examples=40, deadline=None)
@given(graphs())
def test_any_graph_round_trips_exactly(graph: Graph) -> None:
    assert graph_from_json(graph_to_json(graph)) == graph


def test_trace_json_has_the_contract_field_names(trace: Trace) -> None:
    data = json.loads(to_json(trace))

    assert data["schema"] == "gradviz.trace/1"
    assert data["torch_version"] == "2.13.0"
    assert data["script"] == "train.py"
    assert data["backward_calls"] == 1
    assert data["events"][0]["location"] == {
        "file": "train.py",
        "line": 3,
        "function": "<module>",
        "code": None,
    }
    call = data["backwards"][0]
    assert list(call)[:6] == ["index", "api", "location", "nodes", "edges", "roots"]
    assert {"steps", "overlays", "retain_graph", "create_graph", "inputs", "results"} <= set(call)
    assert "graph" not in call
    assert call["index"] == 1 and call["api"] == "backward"
    assert call["location"]["line"] == 6
    assert call["edges"][2] == {"from": 2, "to": 3, "slots": [0, 1]}
    leaf = call["nodes"][4]
    assert leaf["id"] == 4 and leaf["name"] == "AccumulateGrad" and leaf["location"] is None
    assert leaf["tensor"]["label"] == "x"
    assert leaf["tensor"]["shape"] == [2]
    assert leaf["tensor"]["is_leaf"] is True and leaf["tensor"]["retains_grad"] is False
    assert leaf["tensor"]["grad_before"] is None
    assert leaf["tensor"]["grad_after"]["values"] == [6.0, 48.0]
    step = call["steps"][1]
    assert step["node"] == 1
    assert step["grad_outputs"][0]["values"] == [0.5, 0.5]
    assert step["grad_inputs"][1] is None


def test_value_keys_follow_the_contract_and_drop_values_when_absent() -> None:
    big = Value((200,), "float32", None, -1.0, 1.0, 0.0, 3.5)
    small = Value((2, 1), "float32", ((1.0,), (2.0,)), 1.0, 2.0, 1.5, 2.2)
    trace = Trace("2.13.0", backwards=(), uncaptured=(LeafSummary("w", 2, big), LeafSummary("b", 1, small)))

    summaries = json.loads(to_json(trace))["uncaptured"]

    assert list(summaries[0]["grad_after"]) == ["shape", "dtype", "min", "max", "mean", "norm"]
    assert list(summaries[1]["grad_after"]) == ["shape", "dtype", "values", "min", "max", "mean", "norm"]
    assert summaries[1]["grad_after"]["values"] == [[1.0], [2.0]]


def test_complex_values_survive_the_round_trip() -> None:
    value = Value((2,), "complex64", (1 + 2j, -0.5j))
    trace = Trace("2.13.0", uncaptured=(LeafSummary("c", 1, value),))

    assert from_json(to_json(trace)) == trace


def test_output_is_the_same_bytes_every_time(trace: Trace) -> None:
    assert to_json(trace) == to_json(from_json(to_json(trace)))
    assert to_json(trace).endswith("}\n")


def test_call_json_holds_the_call_alone(call: BackwardCall) -> None:
    text = call_to_json(call)

    assert json.loads(text)["schema"] == "gradviz.backward/1"
    assert call_from_json(text) == call


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema": "gradviz.trace/99"}', "'gradviz.trace/99'"),
        ("[1, 2]", "schema is None"),
        ('{"schema": "gradviz.trace/1"}', "torch_version"),
        (
            '{"schema": "gradviz.trace/1", "torch_version": "2", "backwards": [{"index": "one"}]}',
            "expected int",
        ),
    ],
)
def test_bad_files_raise_one_line_trace_file_errors(text: str, words: str) -> None:
    with pytest.raises(TraceFileError) as info:
        from_json(text)

    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_graph_json_is_not_mistaken_for_a_trace(graph: Graph) -> None:
    with pytest.raises(TraceFileError, match=r"gradviz\.graph/1"):
        from_json(graph_to_json(graph))


def test_tutorial_trace_matches_golden(trace: Trace, golden: Callable[[str, str], None]) -> None:
    text = to_json(trace)

    golden("tutorial-trace.json", text)
    assert '  {"id":4,"name":"AccumulateGrad"' in text  # one record per line, readable in a diff


def test_nan_and_infinite_gradients_are_standard_json_and_survive_the_round_trip() -> None:
    # Given: a gradient with NaN and infinities, the very thing a user debugging "my loss is NaN" traces
    value = Value(
        shape=(3,),
        dtype="float32",
        values=(math.nan, math.inf, -math.inf),
        min=math.nan,
        max=math.inf,
        mean=math.nan,
        norm=math.inf,
    )
    trace = Trace(torch_version="2.13.0", uncaptured=(LeafSummary(label="w", calls=1, grad_after=value),))

    text = to_json(trace)

    # Then: no bare NaN/Infinity tokens (a browser's JSON.parse would reject them) ...
    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    json.loads(text, parse_constant=reject)
    # ... and the numbers come back as what they were
    back = from_json(text).uncaptured[0].grad_after
    assert back is not None and isinstance(back.values, tuple)
    assert math.isnan(back.values[0]) and back.values[1:] == (math.inf, -math.inf)  # type: ignore[index]
    assert math.isnan(back.min or 0.0) and back.max == math.inf and back.norm == math.inf


def test_a_verbose_trace_json_from_before_reads_as_the_compact_one(trace: Trace) -> None:
    # Given: the tutorial trace as gradviz wrote it before defaults were left out and separators compacted
    verbose = (GOLDEN / "tutorial-trace-verbose.json").read_text(encoding="utf-8")

    # Then: both read back as the same trace, and the compact text is much smaller
    assert from_json(verbose) == trace == from_json(to_json(trace))
    assert len(to_json(trace)) < 0.85 * len(verbose)


def test_record_fields_at_their_default_are_left_out_but_contract_fields_stay() -> None:
    # Given: a plain op event and a node whose optional fields are all at their defaults
    where = Location("train.py", 3)
    event = Event(id=0, kind="op", op="mul", location=where)
    produced = TensorInfo(label=None, shape=(2,), dtype="float32", device="cpu")
    node = Node(id=0, name="MulBackward0", tensor=produced)
    trace = Trace(
        "2.13.0",
        events=(event,),
        backwards=(
            BackwardCall(1, "backward", where, Graph(nodes=(node,), edges=()), steps=(Step(0, (None,), ()),)),
        ),
    )

    data = json.loads(to_json(trace))

    assert data["events"][0] == {
        "id": 0,
        "kind": "op",
        "op": "mul",
        "location": {"file": "train.py", "line": 3, "function": None, "code": None},
    }
    written = data["backwards"][0]["nodes"][0]
    assert written["location"] is None and set(written) == {"id", "name", "location", "tensor"}
    assert written["tensor"]["grad_before"] is None and "version" not in written["tensor"]
    assert data["backwards"][0]["steps"][0] == {"node": 0, "grad_outputs": [None], "grad_inputs": []}
    assert "event_counts" not in data
    assert from_json(to_json(trace)) == trace
