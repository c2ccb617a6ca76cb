"""One full DOT drawing of a graph: the boxes of its nodes, roots and overlays, and its edges.

`gradviz.render.dot.to_dot` decides what to draw (the full drawing or the collapsed view) and in which
order; a `Drawing` holds the state they share and draws each part.
"""

from __future__ import annotations

import graphviz

from gradviz.model import BackwardCall, Edge, Graph, LedgerEntry, Node, Overlay, Root, Value
from gradviz.render.dataedits import edit_lines, overlay_lines
from gradviz.render.devices import copied_leaf_name, copy_text, move_of, placement
from gradviz.render.failure import RAISED_HERE, RECEIVED_NOTHING
from gradviz.render.labels import html_label as _html
from gradviz.render.labels import small as _small
from gradviz.render.labels import text as _text
from gradviz.render.labels import used_times
from gradviz.render.ledger import ledger_lines
from gradviz.render.legend import add_legend
from gradviz.render.notes import (
    WHOLE_CALL,
    attribute_text,
    local_jacobian_lines,
    non_leaf_grad_text,
    root_v_text,
    root_verb,
)
from gradviz.render.retain import retain_lines
from gradviz.render.state import StepState
from gradviz.render.style import (
    CURRENT,
    EDGE,
    FLOW,
    FONT,
    FONT_SIZE,
    GRADIENT,
    MONO_FONT,
    MOVE,
    MUTED,
    NOT_REACHED,
    NOTE,
    PENDING,
    RAISED,
    SMALL_FONT_SIZE,
    WARNING,
    RenderOptions,
    format_shape,
    format_value,
    is_zero,
    legend_entries,
    node_look,
    overlay_look,
)
from gradviz.render.values import shape_text
from gradviz.render.wrap import Trunks

_OVERLAY_EDGE_LABELS = {
    "no_grad": "no_grad",
    "detach": "detach()",
    "inplace": "in-place",
    "data_edit": ".data",
    "requires_grad_off": "requires_grad=False",
}


#: Overlays that stand for a new tensor (so its name heads the box), not for an edit of a drawn one.
_NEW_TENSOR_OVERLAYS = frozenset({"no_grad", "detach", "requires_grad_off"})


class Drawing:
    """Builds one DOT graph; a class only to share the state and options between the parts."""

    def __init__(
        self, graph: Graph, state: StepState, options: RenderOptions, title: list[str] | None
    ) -> None:
        self.graph = graph
        self.state = state
        self.options = options
        self.kinds: set[str] = set()
        self.current_defaults: dict[str, dict[str, str]] = {}
        self.roots = {root.node for root in graph.roots}
        self.trunks = Trunks(())
        self.ledger: tuple[LedgerEntry, ...] = ()
        self.unedited: dict[int, tuple[Value | None, ...]] = {}
        self.call: BackwardCall | None = None
        self.moves = {node.id: move for node in graph.nodes if (move := move_of(graph, node)) is not None}
        self.dot = graphviz.Digraph(
            name="gradviz",
            graph_attr={"rankdir": options.rankdir, "fontname": FONT, "nodesep": "0.3", "ranksep": "0.4"},
            node_attr={"fontname": FONT, "fontsize": FONT_SIZE, "margin": "0.12,0.06"},
            edge_attr={"fontname": MONO_FONT, "fontsize": SMALL_FONT_SIZE, "arrowsize": "0.7"},
        )
        if title is not None:
            self.dot.attr(label=_html(title), labelloc="t", fontsize="12")

    def value(self, value: Value | None) -> str:
        return format_value(value, max_values=self.options.max_label_values, values=self.options.values)

    def node(self, node: Node) -> None:
        look = node_look(node, is_root=node.id in self.roots)
        look = MOVE if node.id in self.moves and look.kind == "op" else look
        self.kinds.add(look.kind)
        attrs = look.node_attrs()
        if self.state.is_pending(node.id):
            attrs.update(PENDING.node_attrs())
            self.kinds.add(PENDING.kind)
        if node.id == self.state.current:
            attrs.update(color=CURRENT.border, penwidth=CURRENT.penwidth)
            self.kinds.add(CURRENT.kind)
        if self.state.is_unreached(node.id):
            attrs.update(NOT_REACHED.node_attrs())
            self.kinds.add(NOT_REACHED.kind)
        lines = self.leaf_lines(node) if node.is_accumulate_grad else self.op_lines(node)
        if node.id == self.state.raised and self.state.error is not None:
            attrs.update(RAISED.node_attrs())
            self.kinds.add(RAISED.kind)
            lines.append(_small(f"{RAISED_HERE}: {self.state.error.type}", color=RAISED.border))
        if node.id in self.state.ran:
            lines.append(_small(f"backward step {self.state.ran[node.id]} of {self.state.total}"))
        # A double border is set on the node itself: as a default it would carry over to later nodes.
        double = attrs.pop("peripheries", None)
        self.defaults("node", attrs)
        self.dot.node(f"n{node.id}", _html(lines), **({"peripheries": double} if double else {}))

    def defaults(self, kind: str, attrs: dict[str, str]) -> None:
        """Set node or edge defaults only when they change: quoting attributes per node is slow."""
        if self.current_defaults.get(kind) != attrs:
            self.current_defaults[kind] = attrs
            self.dot.attr(kind, **attrs)

    def leaf_lines(self, node: Node) -> list[str]:
        tensor = node.tensor
        name = tensor.label if tensor is not None and tensor.label else copied_leaf_name(self.graph, node)
        lines = [f"<b>{_text(name or 'leaf')}</b>"]
        if self.options.source and node.location is not None:
            lines.append(_small(f"made at {node.location}"))
        if tensor is not None:
            where = placement(self.graph, tensor, dtype=False)
            lines.append(
                _small(
                    f"{format_shape(tensor.shape)} {tensor.dtype} requires_grad={tensor.requires_grad}"
                    + (f" {where}" if where else "")
                )
            )
        lines.append(_small("AccumulateGrad"))
        if tensor is None:
            return lines
        before = tensor.grad_before
        if self.state.received_nothing(node):
            lines.append(_small(f"grad: {self.value(before)}", mono=True, color="black"))
            lines.append(_small(RECEIVED_NOTHING, color=RAISED.border))
            return lines
        grad = self.state.grad_of(node)
        accumulated = not is_zero(before) and grad is not before
        if accumulated:
            lines.append(_small(f"grad before: {self.value(before)}", mono=True))
        lines.extend(_small(line, mono=True) for line in ledger_lines(self.ledger, tensor.label, before))
        suffix = "  (accumulated)" if accumulated else ""
        lines.append(_small(f"grad: {self.value(grad)}{suffix}", mono=True, color="black"))
        return lines

    def op_lines(self, node: Node) -> list[str]:
        lines = [f"<b>{_text(node.name)}</b>"]
        if self.options.source and node.location is not None:
            lines.append(_small(str(node.location)))
        tensor = node.tensor
        if tensor is not None:
            made = f"{tensor.label} " if tensor.label else ""
            shape = shape_text(tensor.shape)
            where = placement(self.graph, tensor)
            lines.append(_small(f"output {made}{shape}" + (f" {where}" if where else "")))
        move = self.moves.get(node.id)
        if move is not None:
            lines.append(_small(f"copy {move.forward}", color=MOVE.border))
        pitfall = copy_text(self.graph, node)
        if pitfall is not None:
            lines.append(_small(pitfall, color=MOVE.border))
        attributes = attribute_text(node)
        if self.options.saved and attributes:
            lines.append(_small(f"saved values: {attributes}", mono=True))
        if self.options.saved and node.saved:
            listed = ", ".join(
                f"{saved.name}" + (f"={saved.label}" if saved.label else "") + f" {self.value(saved.value)}"
                for saved in node.saved
            )
            lines.append(_small(f"saved: {listed}", mono=True))
        edited = edit_lines(node, self.unedited.get(node.id, ()))
        lines.extend(_small(line, mono=True, color=WARNING.border) for line in edited)
        freed = retain_lines(node, self.call, node.id in self.state.done)
        raised = self.call is not None and self.call.error is not None and self.call.error.node == node.id
        lines.extend(_small(line, color=RAISED.border if raised else MUTED) for line in freed)
        if tensor is not None and tensor.retains_grad:
            lines.append(_small(f"retain_grad(): grad {self.value(self.state.grad_of(node))}", mono=True))
        if node.id in self.state.done:
            grads = ", ".join(self.value(grad) for grad in self.state.v.get(node.id, ()))
            lines.append(_small(f"v in: {grads}", mono=True, color="black"))
            if self.options.shows_jacobians:
                lines.extend(
                    _small(line, mono=True, color="black")
                    for line in local_jacobian_lines(self.graph, self.state, node.id)
                )
            not_retained = non_leaf_grad_text(node)
            if not_retained is not None:
                lines.append(_small(not_retained, mono=True))
        return lines

    def edge(self, edge: Edge) -> None:
        sent = self.state.flows.get((edge.source, edge.target))
        look = FLOW if sent is not None else EDGE
        self.kinds.add(look.kind)
        attrs = look.edge_attrs()
        if sent is not None:
            attrs["label"] = " + ".join(self.value(grad) for grad in sent)
        elif len(edge.slots) > 1:
            attrs["label"] = used_times(len(edge.slots))
        move = self.moves.get(edge.source)
        if move is not None and move.source == edge.target:
            sent_label = attrs.get("label")
            attrs["label"] = (f"{sent_label}\n" if sent_label else "") + f"grad back {move.back}"
        label = attrs.pop("label", None)
        self.defaults("edge", attrs)
        source, target = f"n{edge.source}", f"n{edge.target}"
        self.trunks.before(self.dot, source, target, EDGE.border)
        self.dot.edge(self.trunks.source(source, target), target, label=label)

    def root(self, index: int, root: Root) -> None:
        self.kinds.add(GRADIENT.kind)
        who = f" from {root.label}" if root.label else ""
        lines = [
            _text(f"{root_verb(self.call.api if self.call is not None else 'backward')}{who}"),
            _small(
                root_v_text(
                    root,
                    values=self.options.values,
                    max_values=self.options.max_label_values,
                    called=self.call is not None,
                ),
                mono=True,
                color="black",
            ),
        ]
        self.dot.node(f"r{index}", _html(lines), **GRADIENT.node_attrs())
        self.dot.edge(f"r{index}", f"n{root.node}", **EDGE.edge_attrs())

    def overlay(self, overlay: Overlay) -> None:
        look = overlay_look(overlay)
        self.kinds.add(look.kind)
        if look is not WARNING:
            self.kinds.add(NOTE.kind)
        lines = [_text(overlay.text)]
        if overlay.label and overlay.kind in _NEW_TENSOR_OVERLAYS:
            lines.insert(0, f"<b>{_text(overlay.label)}</b>")
        lines.extend(_small(line) for line in overlay_lines(overlay))
        if overlay.location is not None:
            lines.append(_small(str(overlay.location)))
        self.dot.node(f"o{overlay.id}", _html(lines), **look.node_attrs())
        if overlay.attached_to is not None and 0 <= overlay.attached_to < len(self.graph.nodes):
            attrs = {**look.edge_attrs(), "label": _OVERLAY_EDGE_LABELS.get(overlay.kind, overlay.kind)}
            attrs["style"] = "dashed"
            attrs["arrowhead"] = "tee" if overlay.kind == "detach" else "none"
            self.dot.edge(f"n{overlay.attached_to}", f"o{overlay.id}", **attrs)

    def whole_call(self, lines: list[str]) -> None:
        """The whole call as one vector-Jacobian product, in a box of its own at the bottom."""
        rows = [f"<b>{_text(lines[0])}</b>", *(_small(line, mono=True, color="black") for line in lines[1:])]
        # Each line ends in a left-aligned break, so the matrices' columns stay lined up.
        label = "<" + "".join(f'{row}<br align="left"/>' for row in rows) + ">"
        with self.dot.subgraph(name="jacobian_rank") as bottom:
            bottom.attr(rank="sink")
            bottom.node(WHOLE_CALL, label, shape="box", style="rounded", color=MUTED, fontcolor="black")

    def legend(self) -> None:
        add_legend(self.dot, legend_entries(self.kinds))
