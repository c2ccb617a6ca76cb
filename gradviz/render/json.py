"""trace.json: one function pair, `to_json` / `from_json`, schema ``gradviz.trace/1``.

The model's frozen dataclasses map onto JSON objects field by field, in declaration order, with
three exceptions that the schema fixes: a `BackwardCall` flattens its `Graph` (so each backward has
``nodes`` and ``edges`` directly), an `Edge` is ``{"from", "to", "slots"}``, and a `Value` leaves out
``values`` when it has none. Tuples become lists and come back as tuples, so
``from_json(to_json(trace)) == trace``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from gradviz.errors import TraceFileError
from gradviz.model import (
    SCHEMA,
    BackwardCall,
    Edge,
    Event,
    Graph,
    Nested,
    Node,
    SavedTensor,
    Step,
    TensorInfo,
    Trace,
    Value,
)

GRAPH_SCHEMA = "gradviz.graph/1"
BACKWARD_SCHEMA = "gradviz.backward/1"

_Decoder = Callable[[Any], Any]
_RENAMES: dict[type, dict[str, str]] = {Edge: {"source": "from", "target": "to"}}


#: NaN and infinities have no JSON literal; they are written as these strings so that trace.json stays
#: standard JSON (a browser's JSON.parse reads it) and a NaN gradient survives the round trip.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_float(number: float | None) -> float | str | None:
    if number is None or math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _encode_nested(values: Nested) -> Any:
    if isinstance(values, tuple):
        return [_encode_nested(item) for item in values]
    if isinstance(values, complex):
        return {"re": _encode_float(values.real), "im": _encode_float(values.imag)}
    if isinstance(values, float):
        return _encode_float(values)
    return values


#: Deepest ``values`` nesting read back: far more dimensions than any tensor has, and shallow enough
#: for every renderer to walk.
MAX_NESTING = 64


def _decode_nested(values: Any, depth: int = 0) -> Nested:
    if isinstance(values, list):
        if depth >= MAX_NESTING:
            raise ValueError(f"values nested deeper than {MAX_NESTING} levels")
        return tuple(_decode_nested(item, depth + 1) for item in values)
    if isinstance(values, dict):
        return complex(_as_float(values["re"]), _as_float(values["im"]))
    if isinstance(values, (bool, int, float)):
        return values
    if isinstance(values, str) and values in _NON_FINITE:
        return _NON_FINITE[values]
    raise TypeError(f"not a number: {values!r}")


_SCALARS = (str, int, float, bool, type(None))
#: In the records there are most of (one per node, step or forward op), the fields beyond the contract's
#: are written only when they differ from their default; reading fills the default back in.
_SPARSE: dict[type, frozenset[str]] = {
    Node: frozenset({"saved", "event", "module", "freed_by", "attributes"}),
    TensorInfo: frozenset({"version", "id"}),
    SavedTensor: frozenset({"source", "label", "forward_value"}),
    Step: frozenset({"jacobians", "unedited"}),
    Edge: frozenset({"slots"}),
    Event: frozenset(
        {"grad_mode", "inputs", "outputs", "grad_fn", "version_before", "version_after", "enabled", "detail"}
    ),
}
_NO_DEFAULT = object()
_KEYS: dict[type, tuple[tuple[str, str, Any], ...]] = {}


def _keys(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(field, JSON key, the default to leave out or `_NO_DEFAULT`) per field of a record type."""
    keys = _KEYS.get(cls)
    if keys is None:
        renames = _RENAMES.get(cls, {})
        sparse = _SPARSE.get(cls, frozenset())
        keys = tuple(
            (
                f.name,
                renames.get(f.name, f.name),
                f.default if f.name in sparse and f.default is not dataclasses.MISSING else _NO_DEFAULT,
            )
            for f in dataclasses.fields(cls)
        )
        _KEYS[cls] = keys
    return keys


def _encode(obj: Any) -> Any:
    cls = type(obj)
    if cls in _SCALARS:
        return obj
    if cls is tuple:
        return [_encode(item) for item in obj]
    if cls is Value:
        return _encode_value(obj)
    if cls is BackwardCall:
        return _encode_call(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for name, key, default in _keys(cls):
            value = getattr(obj, name)
            # `is` first: () and None are singletons; == for "enabled" and other equal values.
            if default is _NO_DEFAULT or not (
                value is default or (type(value) is type(default) and value == default)
            ):
                out[key] = _encode(value)
        return out
    return obj


def _encode_value(value: Value) -> dict[str, Any]:
    out: dict[str, Any] = {"shape": list(value.shape), "dtype": value.dtype}
    if value.values is not None:
        out["values"] = _encode_nested(value.values)
    out.update(
        min=_encode_float(value.min),
        max=_encode_float(value.max),
        mean=_encode_float(value.mean),
        norm=_encode_float(value.norm),
    )
    return out


def _graph_fields(graph: Graph) -> dict[str, Any]:
    return {f.name: getattr(graph, f.name) for f in dataclasses.fields(graph)}


def _call_fields(call: BackwardCall) -> dict[str, Any]:
    """A call's fields in trace.json order, not yet encoded: its graph's fields come flattened in."""
    out: dict[str, Any] = {"index": call.index, "api": call.api, "location": call.location}
    graph = _graph_fields(call.graph)
    out["nodes"] = graph.pop("nodes")
    out["edges"] = graph.pop("edges")
    out.update(graph)
    for f in dataclasses.fields(call):
        if f.name not in out and f.name != "graph":
            out[f.name] = getattr(call, f.name)
    return out


def _encode_call(call: BackwardCall) -> dict[str, Any]:
    return {key: _encode(value) for key, value in _call_fields(call).items()}


def _trace_fields(trace: Trace) -> dict[str, Any]:
    out: dict[str, Any] = {"schema": trace.schema}
    for f in dataclasses.fields(trace):
        value = getattr(trace, f.name)
        if f.name != "schema" and (f.name != "event_counts" or value):
            out[f.name] = value
    return out


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _compact(data: Any) -> str:
    return _ENCODER.encode(data)


def _dump(data: dict[str, Any], indent: str = "") -> str:
    """Readable and fast: containers one entry per line, each record compact on its line.

    ``json.dumps(indent=...)`` falls back to the pure-Python encoder, which is several times slower
    on big graphs; records are dumped by the C encoder instead. `data` holds model values: each record
    is encoded just before it is written, so the whole trace never exists as JSON-ready objects at once.
    """
    inner = indent + " "
    lines = []
    for key, value in data.items():
        if key == "backwards" and value:
            body = f",\n{inner} ".join(_dump(_call_fields(call), inner + " ") for call in value)
            text = f"[\n{inner} {body}\n{inner}]"
        elif type(value) is tuple and value and dataclasses.is_dataclass(value[0]):
            body = f",\n{inner} ".join(_compact(_encode(item)) for item in value)
            text = f"[\n{inner} {body}\n{inner}]"
        else:
            text = _compact(_encode(value))
        lines.append(f"{inner}{_compact(key)}: {text}")
    text = "{\n" + ",\n".join(lines) + f"\n{indent}}}"
    return text if indent else text + "\n"


def to_json(trace: Trace) -> str:
    """Serialise a whole trace as trace.json text.

    Args:
        trace: What a tracing session recorded.

    Returns:
        JSON text (schema ``gradviz.trace/1``), the same bytes for the same trace, ending in a newline.
    """
    return _dump(_trace_fields(trace))


def graph_to_json(graph: Graph) -> str:
    """Serialise a lone graph, as `gradviz.graph(tensor)` snapshots it.

    Args:
        graph: The graph.

    Returns:
        JSON text with ``schema`` ``gradviz.graph/1`` and the graph's nodes, edges, roots and overlays,
        in the same record shapes as trace.json.
    """
    return _dump({"schema": GRAPH_SCHEMA, **_graph_fields(graph)})


def call_to_json(call: BackwardCall) -> str:
    """Serialise one backward call on its own (the ``backward-NNN.json`` file).

    Args:
        call: A captured backward or grad call.

    Returns:
        JSON text with ``schema`` ``gradviz.backward/1`` and the same fields as one entry of
        trace.json's ``backwards``.
    """
    return _dump({"schema": BACKWARD_SCHEMA, **_call_fields(call)})


# Decoding is driven by the model's type hints, so fields added to the model later are read too.


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = tuple(arg for arg in args if arg is not type(None))
        return (rest[0] if len(rest) == 1 else Any), True
    return hint, False


def _decoder_for(hint: Any) -> _Decoder:
    inner, optional = _strip_optional(hint)
    decode = _plain_decoder(inner)
    if not optional:
        return decode
    return lambda data: None if data is None else decode(data)


def _plain_decoder(hint: Any) -> _Decoder:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda data: _decode_dataclass(hint, data)
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder_for(args[0])
            return lambda data: tuple(item(entry) for entry in _as_list(data))
        items = [_decoder_for(arg) for arg in args]
        return lambda data: tuple(dec(entry) for dec, entry in zip(items, _as_list(data), strict=True))
    if hint is float:
        return _as_float
    if hint in (int, str, bool):
        return lambda data: _as_type(hint, data)
    return lambda data: data


def _as_list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list, got {type(data).__name__}")
    return data


def _as_float(data: Any) -> float:
    if isinstance(data, str) and data in _NON_FINITE:
        return _NON_FINITE[data]
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise TypeError(f"expected a number, got {type(data).__name__}")
    return float(data)


def _as_type(kind: type, data: Any) -> Any:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


_FIELD_DECODERS: dict[type, list[tuple[str, str, _Decoder, bool]]] = {}


def _fields_of(cls: type) -> list[tuple[str, str, _Decoder, bool]]:
    cached = _FIELD_DECODERS.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls)
        renames = _RENAMES.get(cls, {})
        cached = []
        for f in dataclasses.fields(cls):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            decode = _decoder_for(hints[f.name])
            if cls is Value and f.name == "values":
                decode = _decode_optional_nested
            cached.append((f.name, renames.get(f.name, f.name), decode, required))
        _FIELD_DECODERS[cls] = cached
    return cached


def _decode_optional_nested(data: Any) -> Nested | None:
    return None if data is None else _decode_nested(data)


def _decode_dataclass(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    if cls is BackwardCall and "graph" not in data:
        data = {**data, "graph": data}
    kwargs: dict[str, Any] = {}
    for name, key, decode, required in _fields_of(cls):
        if key in data:
            kwargs[name] = decode(data[key])
        elif required:
            raise KeyError(f"{cls.__name__} needs {key!r}")
    return cls(**kwargs)


def _parse(text: str | bytes, schema: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TraceFileError(f"not a gradviz trace: the file is not valid JSON ({exc})") from None
    except RecursionError:
        raise TraceFileError("not a gradviz trace: the JSON is nested too deeply to read") from None
    except MemoryError:
        raise TraceFileError("the file is too big to read into memory") from None
    found = data.get("schema") if isinstance(data, dict) else None
    if found != schema:
        raise TraceFileError(
            f"not a gradviz trace: schema is {found!r}, expected {schema!r}"
            " (was it written by another version of gradviz?)"
        )
    result: dict[str, Any] = data
    return result


def _build(cls: type, data: dict[str, Any], schema: str) -> Any:
    try:
        return _decode_dataclass(cls, data)
    except RecursionError:
        raise TraceFileError(f"damaged {schema} file: values nested too deeply") from None
    except (KeyError, TypeError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise TraceFileError(f"damaged {schema} file: {message}") from None


def from_json(text: str | bytes) -> Trace:
    """Read trace.json text back into a `Trace`.

    Args:
        text: What `to_json` wrote (fields it does not know are ignored; missing optional fields
            take their defaults).

    Returns:
        The trace, equal to the one that was written.

    Raises:
        TraceFileError: The text is not JSON, has another schema, or lacks required fields.
    """
    result: Trace = _build(Trace, _parse(text, SCHEMA), SCHEMA)
    return result


def graph_from_json(text: str | bytes) -> Graph:
    """Read what `graph_to_json` wrote.

    Args:
        text: JSON text with schema ``gradviz.graph/1``.

    Returns:
        The graph.

    Raises:
        TraceFileError: The text is not JSON, has another schema, or lacks required fields.
    """
    result: Graph = _build(Graph, _parse(text, GRAPH_SCHEMA), GRAPH_SCHEMA)
    return result


def call_from_json(text: str | bytes) -> BackwardCall:
    """Read what `call_to_json` wrote.

    Args:
        text: JSON text with schema ``gradviz.backward/1``.

    Returns:
        The backward call.

    Raises:
        TraceFileError: The text is not JSON, has another schema, or lacks required fields.
    """
    result: BackwardCall = _build(BackwardCall, _parse(text, BACKWARD_SCHEMA), BACKWARD_SCHEMA)
    return result
