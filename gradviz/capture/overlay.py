"""What autograd did not record, found in the timeline and hung off the graph nodes it came from.

Pure functions of the model: a tensor computed from graph tensors under ``no_grad``, a ``detach()``,
an in-place version bump, a ``.data`` edit. Autograd keeps no trace of any of these in the graph itself,
which is exactly why they surprise people.
"""

from __future__ import annotations

from collections.abc import Sequence

from gradviz.capture.wording import TORCH_NO_GRAD, assigned_name, data_owner, detached_name
from gradviz.model import Event, Graph, Node, Overlay, OverlayKind

__all__ = ["MAX_OVERLAYS", "assigned_name", "data_owner", "overlays_for"]

#: At most this many overlays per graph, so that a loop full of no_grad metrics stays readable.
MAX_OVERLAYS = 40
#: How many timeline events before a graph's first op a detach of one of its inputs is looked for.
_DETACH_LOOKBACK = 1000


def _window(graph: Graph, events: Sequence[Event]) -> tuple[int, int]:
    created = [node.event for node in graph.nodes if node.event is not None]
    start = min(created) if created else 0
    end = len(events)
    for event in reversed(events):
        if event.kind == "backward" and event.id > start:
            end = event.id
            break
    return start, end


class _Finder:
    """Matches events to graph nodes through tensor ids."""

    def __init__(self, graph: Graph) -> None:
        self.by_tensor: dict[int, list[Node]] = {}
        for node in sorted(graph.nodes, key=lambda node: -1 if node.event is None else node.event):
            if node.tensor is not None and node.tensor.id is not None:
                self.by_tensor.setdefault(node.tensor.id, []).append(node)
        self.graph_events = {node.event: node for node in graph.nodes if node.event is not None}
        # A leaf counts from the first op of this graph that used it: earlier edits are not this graph's.
        self.first_use: dict[int, int] = {}
        # tensor id -> the graph's ops that took it as an input, in timeline order
        self.used_by: dict[int, list[int]] = {}
        self.found: list[Overlay] = []
        self.seen: set[tuple[str, int, int | None, str]] = set()

    def learn(self, event: Event) -> None:
        """Note the graph's own ops, in timeline order, for `first_use`."""
        if event.id in self.graph_events:
            for tensor_id in event.inputs:
                self.first_use.setdefault(tensor_id, event.id)
                self.used_by.setdefault(tensor_id, []).append(event.id)

    def consumer(self, tensor_id: int, event_id: int) -> Node | None:
        """The graph node whose op first took this tensor as an input after an event."""
        later = [used for used in self.used_by.get(tensor_id, ()) if used > event_id]
        return self.graph_events[later[0]] if later else None

    def node_before(self, tensor_id: int, event_id: int) -> Node | None:
        """The graph node for this tensor as it was just before an event (in-place ops make new ones)."""
        chosen = None
        for node in self.by_tensor.get(tensor_id, ()):
            if node.event is None or node.event < event_id:
                chosen = node
        if chosen is not None and chosen.event is None and event_id < self.first_use.get(tensor_id, -1):
            return None
        return chosen

    def first_graph_input(self, event: Event) -> Node | None:
        for tensor_id in event.inputs:
            node = self.node_before(tensor_id, event.id)
            if node is not None:
                return node
        return None

    def add(self, kind: OverlayKind, event: Event, node: Node, text: str, label: str | None) -> None:
        key = (kind, node.id, event.location.line if event.location else None, event.op)
        if key in self.seen or len(self.found) >= MAX_OVERLAYS:
            return
        self.seen.add(key)
        self.found.append(
            Overlay(
                id=len(self.found),
                kind=kind,
                label=label,
                text=text,
                location=event.location,
                attached_to=node.id,
                event=event.id,
            )
        )


def _label(node: Node) -> str | None:
    return node.tensor.label if node.tensor is not None else None


def _visit(finder: _Finder, event: Event) -> None:
    if (
        event.kind == "op"
        and event.grad_mode != "enabled"
        and event.outputs
        and event.detail != TORCH_NO_GRAD
    ):
        node = finder.first_graph_input(event)
        if node is not None:
            mode = "inference_mode" if event.grad_mode == "inference_mode" else "no_grad"
            finder.add(
                "no_grad", event, node, f"{mode}: not recorded, no grad_fn", assigned_name(event.location)
            )
    elif event.kind == "detach" and event.inputs:
        node = finder.node_before(event.inputs[0], event.id)
        if node is not None:
            in_place = event.op.endswith("_")
            text = (
                "detach_(): taken out of the graph in place" if in_place else "detach(): requires_grad=False"
            )
            label = _label(node) if in_place else detached_name(event.location)
            finder.add("detach", event, node, text, label)
        else:
            _detached_input(finder, event)
    elif event.kind == "inplace" and event.outputs:
        node = finder.node_before(event.outputs[0], event.id)
        if node is not None:
            text = f"{event.op}: _version {event.version_before} -> {event.version_after}"
            finder.add("inplace", event, node, text, _label(node))
    elif event.kind == "data_write" and event.outputs:
        node = finder.node_before(event.outputs[0], event.id)
        if node is not None:
            line = f" at line {event.location.line}" if event.location is not None else ""
            version = (
                f"_version stays {event.version_after}"
                if event.version_after is not None
                else "no version bump"
            )
            finder.add(
                "data_edit",
                event,
                node,
                f".data edit{line}: {version}",
                _label(node) or data_owner(event.location),
            )
    elif event.kind == "requires_grad" and event.enabled is False and event.inputs:
        node = finder.node_before(event.inputs[0], event.id)
        if node is not None:
            finder.add("requires_grad_off", event, node, "requires_grad set to False", _label(node))


def _detached_input(finder: _Finder, event: Event) -> None:
    """A detached tensor this graph took as an input, from a graph it does not reach (GAN-style)."""
    if not event.outputs or event.op.endswith("_"):
        return
    node = finder.consumer(event.outputs[0], event.id)
    if node is not None:
        text = "cut here: no gradient back"
        finder.add("detach", event, node, text, detached_name(event.location))


def overlays_for(graph: Graph, events: Sequence[Event]) -> tuple[Overlay, ...]:
    """Find what autograd did not record about a graph's tensors.

    Only events from the graph's first recorded op up to the last backward call in ``events`` count,
    and for a leaf only those after the graph first used it, so an optimizer step after backward, or
    edits from an earlier iteration, are left out.

    Args:
        graph: A captured graph whose nodes carry tensor ids and event ids (forward tracing was on).
        events: The forward timeline up to this graph's backward call.

    Returns:
        The overlays, each attached to the node whose tensor it concerns, ids 0..n-1.
    """
    finder = _Finder(graph)
    if not finder.by_tensor:
        return ()
    start, end = _window(graph, events)
    window = [event for event in events if start <= event.id < end]
    for event in window:
        finder.learn(event)
    # A detach just before the graph's first op (``d(fake.detach())``) is where this graph was cut.
    for event in events:
        if event.id >= start:
            break
        if event.kind == "detach" and event.id >= start - _DETACH_LOOKBACK:
            _visit(finder, event)
    for event in window:
        _visit(finder, event)
    return tuple(finder.found)
