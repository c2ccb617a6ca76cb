"""Keep trace.json bounded: the forward timeline in full around the captured calls, the rest counted.

A training loop records hundreds of thousands of plain ops between the captured backward calls (an
evaluation pass, a metrics loop). trace.json keeps at most `MAX_EVENTS` events in full, chosen in this
order: every no_grad, detach, in-place, ``.data`` and other non-plain event; the ops that made a node
or an overlay of a captured call; then the plain ops nearest a backward call. The ops left out are
counted per op and line in `Trace.event_counts`.
"""

from __future__ import annotations

import bisect
import dataclasses

from gradviz.model import Event, EventCount, Location, Trace

#: At most this many forward events are written in full.
MAX_EVENTS = 5_000


def _referenced(trace: Trace) -> set[int]:
    """Ids of the events that a node or an overlay of a captured call points to."""
    found: set[int] = set()
    for call in trace.backwards:
        found.update(node.event for node in call.graph.nodes if node.event is not None)
        found.update(overlay.event for overlay in call.graph.overlays if overlay.event is not None)
    return found


def _distance(event: Event, backward_ids: list[int]) -> int:
    """How many events lie between this one and the nearest backward call."""
    at = bisect.bisect_left(backward_ids, event.id)
    near = [abs(backward_ids[i] - event.id) for i in (at - 1, at) if 0 <= i < len(backward_ids)]
    return min(near, default=0)


def bounded_timeline(trace: Trace, limit: int = MAX_EVENTS) -> Trace:
    """The trace with at most `limit` forward events in full and the others counted.

    Args:
        trace: A trace as recorded.
        limit: How many events to keep in full.

    Returns:
        `trace` itself when it has at most `limit` events; otherwise a copy whose ``events`` keep
        their order and ids and whose ``event_counts`` count the rest per op and line.
    """
    events = trace.events
    if len(events) <= limit:
        return trace
    referenced = _referenced(trace)
    backward_ids = [event.id for event in events if event.kind == "backward"]

    def priority(event: Event) -> tuple[int, int]:
        rank = 0 if event.kind != "op" else (1 if event.id in referenced else 2)
        return rank, _distance(event, backward_ids)

    kept_ids = {event.id for event in sorted(events, key=priority)[:limit]}
    counts: dict[tuple[str, Location | None], list[int]] = {}
    for event in events:
        if event.id not in kept_ids:
            entry = counts.setdefault((event.op, event.location), [0, event.id, event.id])
            entry[0] += 1
            entry[2] = event.id
    return dataclasses.replace(
        trace,
        events=tuple(event for event in events if event.id in kept_ids),
        event_counts=trace.event_counts
        + tuple(
            EventCount(op=op, location=location, count=count, first=first, last=last)
            for (op, location), (count, first, last) in counts.items()
        ),
    )
