"""A captured call linked to the forward timeline: each leaf's line, and the overlays of what autograd did
not record."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from gradviz.capture.overlay import overlays_for
from gradviz.capture.records import make_node
from gradviz.model import BackwardCall, Event, Graph, Location, Node


def with_timeline(call: BackwardCall, events: Sequence[Event], born: Mapping[int, int]) -> BackwardCall:
    """A captured call with what the timeline knows: each leaf's line, and the overlays of what autograd
    did not record."""
    graph = with_leaf_lines(call.graph, events, born)
    return dataclasses.replace(call, graph=dataclasses.replace(graph, overlays=overlays_for(graph, events)))


def with_leaf_lines(graph: Graph, events: Sequence[Event], born: Mapping[int, int]) -> Graph:
    """Give each leaf the line that created it, from the timeline.

    The creator is the first op whose outputs hold the leaf but whose inputs do not (``.to()`` or
    ``requires_grad_()`` return their input); for an ``nn.Parameter``, which no op outputs, the factory op
    that made its data (``born``). Leaves have no grad_fn to carry their origin, so the timeline is the only
    place to find it.
    """
    wanted = {
        node.tensor.id: node.id
        for node in graph.leaves
        if node.tensor is not None and node.tensor.id is not None and node.location is None
    }
    found: dict[int, Event] = {}
    for event in events:
        if len(found) == len(wanted):
            break
        if event.kind != "op":
            continue
        for output in event.outputs:
            if output in wanted and output not in found and output not in event.inputs:
                found[output] = event
    for tensor_id, event_id in born.items():
        if tensor_id in wanted and tensor_id not in found and 0 <= event_id < len(events):
            found[tensor_id] = events[event_id]
    if not found:
        return graph
    nodes = list(graph.nodes)
    for tensor_id, event in found.items():
        node_id = wanted[tensor_id]
        # Only the line: Node.event marks ops of this graph, and a leaf may be made long before them.
        nodes[node_id] = with_location(nodes[node_id], event.location)
    return dataclasses.replace(graph, nodes=tuple(nodes))


def with_location(node: Node, location: Location | None) -> Node:
    """``dataclasses.replace(node, location=location)``, spelt out field by field (one per leaf per call).

    Args:
        node: A node.
        location: Its new line.

    Returns:
        The new node.
    """
    return make_node(
        node.id,
        node.name,
        location,
        node.tensor,
        node.saved,
        node.event,
        node.module,
        node.freed_by,
        node.attributes,
    )
