"""Writing trace.json: model records to JSON text, one record per line, a chunk at a time.

The model's frozen dataclasses map onto JSON objects field by field, in declaration order, with the
exceptions the schema fixes: a `BackwardCall` flattens its `Graph` (so each backward has ``nodes``
and ``edges`` directly), an `Edge` is ``{"from", "to", "slots"}``, and a `Value` leaves out
``values`` when it has none.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from gradviz.model import BackwardCall, Graph, Trace, Value
from gradviz.render.jsonvalues import NO_DEFAULT, encode_float, encode_nested, record_keys

_SCALARS = (str, int, float, bool, type(None))


def encode(obj: Any) -> Any:
    """A model value as JSON-ready lists, dicts and scalars."""
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if cls is tuple:
        return [encode(item) for item in obj]
    if cls is Value:
        return _encode_value(obj)
    if cls is BackwardCall:
        return {key: encode(value) for key, value in call_fields(obj).items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for name, key, default in record_keys(cls):
            value = getattr(obj, name)
            # `is` first: () and None are singletons; == for "enabled" and other equal values.
            if default is NO_DEFAULT or not (
                value is default or (type(value) is type(default) and value == default)
            ):
                out[key] = encode(value)
        return out
    return obj


def _encode_value(value: Value) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(value.shape), "dtype": value.dtype}
    if value.values is not None:
        out["values"] = encode_nested(value.values)
    out.update(
        min=encode_float(value.min),
        max=encode_float(value.max),
        mean=encode_float(value.mean),
        norm=encode_float(value.norm),
    )
    return out


def graph_fields(graph: Graph) -> dict[str, Any]:
    """A graph's fields by name, not yet encoded."""
    return {f.name: getattr(graph, f.name) for f in dataclasses.fields(graph)}


def call_fields(call: BackwardCall) -> dict[str, Any]:
    """A call's fields in trace.json order, not yet encoded: its graph's fields come flattened in."""
    out: dict[str, Any] = {"index": call.index, "api": call.api, "location": call.location}
    graph = graph_fields(call.graph)
    out["nodes"] = graph.pop("nodes")
    out["edges"] = graph.pop("edges")
    out.update(graph)
    for f in dataclasses.fields(call):
        if f.name not in out and f.name != "graph" and (f.name != "thinned" or call.thinned):
            out[f.name] = getattr(call, f.name)
    return out


#: Trace fields written only when set (older traces lack them; most traces leave them empty).
_WHEN_SET = frozenset({"event_counts", "calls_left_out", "nested_calls"})


def trace_fields(trace: Trace) -> dict[str, Any]:
    """A trace's fields in trace.json order (``schema`` first), not yet encoded; empty counts left out."""
    out: dict[str, Any] = {"schema": trace.schema}
    for f in dataclasses.fields(trace):
        value = getattr(trace, f.name)
        if f.name != "schema" and (f.name not in _WHEN_SET or value):
            out[f.name] = value
    return out


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def compact(data: Any) -> str:
    """JSON text of JSON-ready data on one line."""
    return _ENCODER.encode(data)


def chunks(data: dict[str, Any], indent: str = "") -> Iterator[str]:
    """JSON text of an object of model values, in pieces: readable, fast, and never whole in memory.

    Containers hold one entry per line, each record compact on its line. ``json.dumps(indent=...)``
    would fall back to the pure-Python encoder, several times slower on big graphs; records are dumped
    by the C encoder instead, each just before it is yielded, so neither the JSON-ready objects nor the
    text of a whole trace exist at once.

    Args:
        data: Keys in output order, values from the model (records, tuples of records, scalars).
        indent: The indent of the object's own braces (nested calls indent one more).

    Yields:
        Pieces whose concatenation is the JSON text, ending in a newline at the top level.
    """
    inner = indent + " "
    yield "{\n"
    for number, (key, value) in enumerate(data.items()):
        yield ",\n" + inner if number else inner
        yield f"{compact(key)}: "
        if key == "backwards" and value:
            yield "["
            for position, call in enumerate(value):
                yield f"{',' if position else ''}\n{inner} "
                yield from chunks(call_fields(call), inner + " ")
            yield f"\n{inner}]"
        elif type(value) is tuple and value and dataclasses.is_dataclass(value[0]):
            yield "["
            for position, item in enumerate(value):
                yield f"{',' if position else ''}\n{inner} {compact(encode(item))}"
            yield f"\n{inner}]"
        else:
            yield compact(encode(value))
    yield f"\n{indent}}}" if indent else "\n}\n"
