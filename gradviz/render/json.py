"""trace.json: one function pair, `to_json` / `from_json`, schema ``gradviz.trace/1``.

Records map onto JSON objects field by field (`gradviz.render.jsonwrite`, `gradviz.render.jsonread`).
Tuples become lists and come back as tuples, so ``from_json(to_json(trace)) == trace``. `write_json`
writes the same text in pieces, so that a big trace never exists as one string.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from gradviz.errors import TraceFileError
from gradviz.model import SCHEMA, BackwardCall, Graph, Trace
from gradviz.render.jsonread import decode_record
from gradviz.render.jsonvalues import MAX_NESTING
from gradviz.render.jsonwrite import call_fields, chunks, graph_fields, trace_fields

__all__ = [
    "BACKWARD_SCHEMA",
    "GRAPH_SCHEMA",
    "MAX_NESTING",
    "call_from_json",
    "call_to_json",
    "from_json",
    "graph_from_json",
    "graph_to_json",
    "json_chunks",
    "to_json",
]

GRAPH_SCHEMA = "gradviz.graph/1"
BACKWARD_SCHEMA = "gradviz.backward/1"


def json_chunks(trace: Trace) -> Iterator[str]:
    """trace.json text in pieces, for writing a big trace without holding its text.

    Args:
        trace: What a tracing session recorded.

    Yields:
        Pieces whose concatenation is `to_json(trace)`.
    """
    return chunks(trace_fields(trace))


def to_json(trace: Trace) -> str:
    """Serialise a whole trace as trace.json text.

    Args:
        trace: What a tracing session recorded.

    Returns:
        JSON text (schema ``gradviz.trace/1``), the same bytes for the same trace, ending in a newline.
    """
    return "".join(json_chunks(trace))


def graph_to_json(graph: Graph) -> str:
    """Serialise a lone graph, as `gradviz.graph(tensor)` snapshots it.

    Args:
        graph: The graph.

    Returns:
        JSON text with ``schema`` ``gradviz.graph/1`` and the graph's nodes, edges, roots and overlays,
        in the same record shapes as trace.json.
    """
    return "".join(chunks({"schema": GRAPH_SCHEMA, **graph_fields(graph)}))


def call_to_json(call: BackwardCall) -> str:
    """Serialise one backward call on its own (the ``backward-NNN.json`` file).

    Args:
        call: A captured backward or grad call.

    Returns:
        JSON text with ``schema`` ``gradviz.backward/1`` and the same fields as one entry of
        trace.json's ``backwards``.
    """
    return "".join(chunks({"schema": BACKWARD_SCHEMA, **call_fields(call)}))


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
        return decode_record(cls, data)
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
