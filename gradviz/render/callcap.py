"""Keep trace.json under its size bound: the captured calls in full while they fit, then thinned.

The forward timeline is bounded by `gradviz.render.timelinecap`; the captured calls are bounded here,
by the bytes they take in the file. In call order, each call is written in full while the file stays
under `MAX_BYTES`. A call that does not fit is thinned (`BackwardCall.thinned`): its nodes, edges,
roots, overlays and modules stay, every tensor keeps its shape, dtype and statistics, but the steps,
the saved tensors and listed values go. A call that does not fit even thinned is left out and its
index listed in `Trace.calls_left_out`. The drawings are made from the whole trace, not from this.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gradviz.model import BackwardCall, LedgerEntry, Node, TensorInfo, Trace, Value
from gradviz.render.jsonwrite import call_fields, chunks, trace_fields
from gradviz.render.timelinecap import bounded_timeline

#: trace.json stays at most this many bytes (UTF-8) at default settings.
MAX_BYTES = 20_000_000
#: Room kept for the separators and the few lines a left-out call adds.
_SLACK = 10_000
#: The indent of a call's braces inside trace.json's ``backwards``.
_CALL_INDENT = "  "


def _size(fields: dict[str, Any], limit: int, indent: str = "") -> int:
    """Bytes of the JSON text of `fields` at `indent`, counted up to just past `limit` (then given up)."""
    total = 0
    for piece in chunks(fields, indent):
        total += len(piece.encode("utf-8")) if not piece.isascii() else len(piece)
        if total > limit:
            break
    return total


def _stats_only(value: Value | None) -> Value | None:
    if value is None or value.values is None:
        return value
    return dataclasses.replace(value, values=None)


def _thin_tensor(tensor: TensorInfo | None) -> TensorInfo | None:
    if tensor is None or (tensor.grad_before is None and tensor.grad_after is None):
        return tensor
    return dataclasses.replace(
        tensor, grad_before=_stats_only(tensor.grad_before), grad_after=_stats_only(tensor.grad_after)
    )


def _thin_node(node: Node) -> Node:
    if not node.saved and node.tensor is _thin_tensor(node.tensor):
        return node
    return dataclasses.replace(node, saved=(), tensor=_thin_tensor(node.tensor))


def _thin_entry(entry: LedgerEntry) -> LedgerEntry:
    return dataclasses.replace(
        entry, before=_stats_only(entry.before), after=_stats_only(entry.after), loss=_stats_only(entry.loss)
    )


def thin(call: BackwardCall) -> BackwardCall:
    """The call as trace.json keeps it past the size bound: the graph and statistics, no steps.

    Args:
        call: A captured call.

    Returns:
        A copy with no steps, no saved tensors, and tensors summarised by shape, dtype and statistics
        (no listed values), marked `BackwardCall.thinned`.
    """
    graph = call.graph
    roots = tuple(dataclasses.replace(root, gradient=_stats_only(root.gradient)) for root in graph.roots)
    return dataclasses.replace(
        call,
        graph=dataclasses.replace(graph, nodes=tuple(_thin_node(node) for node in graph.nodes), roots=roots),
        steps=(),
        results=tuple(_stats_only(value) for value in call.results),
        ledger=tuple(_thin_entry(entry) for entry in call.ledger),
        thinned=True,
    )


def bounded_calls(trace: Trace, limit: int = MAX_BYTES) -> Trace:
    """The trace with its captured calls in full while trace.json stays under `limit` bytes.

    Args:
        trace: A trace whose timeline is already bounded (`gradviz.render.timelinecap.bounded_timeline`).
        limit: The most bytes trace.json may take.

    Returns:
        `trace` itself when it fits whole; otherwise a copy whose later calls are thinned (`thin`) or,
        when even that does not fit, left out and listed in ``calls_left_out``.
    """
    rest = dataclasses.replace(trace, backwards=())
    room = limit - _SLACK - _size(trace_fields(rest), limit)
    kept: list[BackwardCall] = []
    left_out: list[int] = []
    for call in trace.backwards:
        for candidate in (call, thin(call)):
            size = _size(call_fields(candidate), room, _CALL_INDENT)
            if size <= room:
                kept.append(candidate)
                room -= size
                break
        else:
            left_out.append(call.index)
    result = trace
    if left_out or any(call.thinned for call in kept):
        result = dataclasses.replace(
            trace, backwards=tuple(kept), calls_left_out=trace.calls_left_out + tuple(left_out)
        )
    return result


#: The last trace bounded and what was thinned and left out of it: the writer measures, the summary
#: reads (the trace is the one the caller holds anyway; its bounded copy is not kept).
_LAST: list[tuple[Trace, tuple[int, ...], tuple[int, ...]]] = []


def bounded_trace(trace: Trace) -> Trace:
    """The trace as trace.json keeps it: the timeline bounded, then the captured calls.

    Args:
        trace: A trace as recorded.

    Returns:
        `bounded_calls` of `bounded_timeline` of it.
    """
    result = bounded_calls(bounded_timeline(trace), MAX_BYTES)
    thinned = tuple(call.index for call in result.backwards if call.thinned)
    _LAST[:] = [(trace, thinned, result.calls_left_out)]
    return result


def bound_note(trace: Trace) -> str | None:
    """One line saying what trace.json kept thinned or left out, or None when it kept every call whole.

    Args:
        trace: The trace as recorded (the one `bounded_trace` was given before writing, which is not
            measured again).

    Returns:
        The line, without a trailing newline.
    """
    if not (_LAST and _LAST[0][0] is trace):
        bounded_trace(trace)
    _, thinned, left = _LAST[0]
    if not thinned and not left:
        return None
    parts = []
    if thinned:
        parts.append(f"call{'s' if len(thinned) > 1 else ''} {_numbers(thinned)} without steps or values")
    if left:
        parts.append(f"call{'s' if len(left) > 1 else ''} {_numbers(left)} left out")
    bound = f"{MAX_BYTES / 1e6:g} MB"
    return f"trace.json kept under {bound}: {'; '.join(parts)} (the drawings show them whole)"


def _numbers(indices: tuple[int, ...]) -> str:
    if len(indices) > 4:
        return f"{indices[0]}, {indices[1]}, ... {indices[-1]}"
    return ", ".join(str(index) for index in indices)
