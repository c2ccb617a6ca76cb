"""DOT source for the collapsed view (`gradviz.render.collapse`): one box per module or fold.

A box shows its module path and class, how many nodes it stands for, the norm of the gradient
flowing in (the vJ its callers sent it) and out (the vJ it sent on), and its parameters' ``.grad``
norms. A link carries the norm of the vJ sent along the graph edges it stands for.
"""

from __future__ import annotations

from collections import Counter

import graphviz

from gradviz.model import BackwardCall, Graph, Value
from gradviz.render.collapse import Box, Collapsed, collapse, flow_norm
from gradviz.render.labels import html_label, small, text, title_lines
from gradviz.render.notes import root_v_text, root_verb
from gradviz.render.state import StepState
from gradviz.render.style import (
    CURRENT,
    EDGE,
    FLOW,
    FONT,
    FONT_SIZE,
    GRADIENT,
    LEAF,
    MONO_FONT,
    OP,
    PENDING,
    ROOT,
    SMALL_FONT_SIZE,
    format_number,
    format_value,
)
from gradviz.render.wrap import Trunks

__all__ = ["NOT_DRAWN", "to_overview_dot"]

#: What the marker of a capped view says, after the count.
NOT_DRAWN = "nodes not drawn (--full draws every node)"
_LISTED_PARAMS = 3
_LISTED_NAMES = 3


def _norm(value: float | None) -> str:
    return "-" if value is None else format_number(value)


class _Overview:
    def __init__(self, graph: Graph, view: Collapsed, state: StepState) -> None:
        self.graph = graph
        self.view = view
        self.state = state
        self.box_of = {node: box.id for box in view.boxes for node in box.nodes}

    def crossing(self, box: Box, *, into: bool) -> float | None:
        grads: list[Value | None] = []
        if into:  # the v that backward() was given enters the box holding its root
            grads.extend(root.gradient for root in self.graph.roots if root.node in box.nodes)
        for link in self.view.links:
            if (link.target if into else link.source) == box.id:
                for edge in link.edges:
                    grads.extend(self.state.flows.get(edge, ()))
        return flow_norm(grads)

    def label(self, box: Box) -> str:
        title = box.path if box.path is not None else box.type
        lines = [f"<b>{text(title)}</b>"]
        kind = f"({box.type})" if box.path is not None else ""
        if box.repeat > 1:
            kind += f" x{box.repeat}"
        if box.calls > 1:
            kind += f" x{box.calls} calls"
        if kind:
            lines.append(text(kind.strip()))
        names = Counter(self.graph.nodes[node].name for node in box.nodes)
        listed = ", ".join(f"{name} x{count}" for name, count in names.most_common(_LISTED_NAMES))
        more = ", ..." if len(names) > _LISTED_NAMES else ""
        lines.append(small(f"{len(box.nodes)} node{'s' if len(box.nodes) != 1 else ''}: {listed}{more}"))
        if self.state.flows:
            into, out = self.crossing(box, into=True), self.crossing(box, into=False)
            lines.append(small(f"grad in |v| {_norm(into)}  out |vJ| {_norm(out)}", mono=True, color="black"))
        lines.extend(self.params(box))
        return html_label(lines)

    def params(self, box: Box) -> list[str]:
        leaves = [self.graph.nodes[node] for node in box.nodes if self.graph.nodes[node].is_accumulate_grad]
        grads = [(leaf.tensor.label if leaf.tensor else None, self.state.grad_of(leaf)) for leaf in leaves]
        if not grads:
            return []
        if len(grads) <= _LISTED_PARAMS:
            return [
                small(f"{name or 'leaf'}.grad {format_value(grad, values=False)}", mono=True)
                for name, grad in grads
            ]
        total = flow_norm([grad for _, grad in grads])
        return [small(f"{len(grads)} parameters, .grad norm (all) {_norm(total)}", mono=True)]

    def look(self, box: Box) -> dict[str, str]:
        roots = {root.node for root in self.graph.roots}
        if all(self.graph.nodes[node].is_accumulate_grad for node in box.nodes):
            attrs = LEAF.node_attrs()
        elif roots & set(box.nodes):
            attrs = ROOT.node_attrs()
        else:
            attrs = OP.node_attrs()
        ran = [node for node in box.nodes if node in self.state.ran]
        if self.state.step is not None and ran and not any(node in self.state.done for node in ran):
            attrs.update(PENDING.node_attrs())
        if self.state.current is not None and self.state.current in box.nodes:
            attrs.update(color=CURRENT.border, penwidth=CURRENT.penwidth)
        if box.repeat > 1 or box.calls > 1:
            attrs["peripheries"] = "2"
        return attrs


def to_overview_dot(subject: Graph | BackwardCall, state: StepState, depth: int, rankdir: str = "TB") -> str:
    """DOT source of the collapsed view of a graph or call.

    Args:
        subject: A lone graph or a captured backward call.
        state: The step state whose vJ the links and boxes show.
        depth: Module depth of the boxes (0: nodes of no module, folded).
        rankdir: Layout direction, ``TB`` or ``LR``.

    Returns:
        DOT source; the same text for the same input.
    """
    graph = subject if isinstance(subject, Graph) else subject.graph
    view = collapse(graph, depth)
    drawing = _Overview(graph, view, state)
    dot = graphviz.Digraph(
        name="gradviz",
        graph_attr={"rankdir": rankdir, "fontname": FONT, "nodesep": "0.3", "ranksep": "0.4"},
        node_attr={"fontname": FONT, "fontsize": FONT_SIZE, "margin": "0.12,0.06"},
        edge_attr={"fontname": MONO_FONT, "fontsize": SMALL_FONT_SIZE, "arrowsize": "0.7"},
    )
    title = title_lines(subject, state) or []
    where = f"module depth {depth}" if depth else "repeated runs folded"
    if view.by_line:
        where = f"module depth {depth}, the rest by source line" if depth else "by source line"
    summary = f"collapsed view ({where}): {len(graph.nodes)} nodes in {len(view.boxes)} boxes"
    title.append(small(f"{summary}; --full draws every node"))
    dot.attr(label=html_label(title), labelloc="t", fontsize="12")
    trunks = Trunks((f"b{link.source}", f"b{link.target}") for link in view.links)
    for box in view.boxes:
        trunks.declare(dot, f"b{box.id}", EDGE.border)
        dot.node(f"b{box.id}", drawing.label(box), id=f"b{box.id}", **drawing.look(box))
    for index, root in enumerate(graph.roots):
        if root.node in drawing.box_of:
            lines = [
                text(root_verb(subject.api if isinstance(subject, BackwardCall) else "backward")),
                small(root_v_text(root), mono=True, color="black"),
            ]
            dot.node(f"r{index}", html_label(lines), **GRADIENT.node_attrs())
            dot.edge(f"r{index}", f"b{drawing.box_of[root.node]}", **EDGE.edge_attrs())
    for link in view.links:
        grads = [grad for edge in link.edges for grad in state.flows.get(edge, ())]
        attrs = (FLOW if grads else EDGE).edge_attrs()
        label = f"|vJ| {_norm(flow_norm(grads))}" if grads else ""
        if len(link.edges) > 1:
            label += f" ({len(link.edges)} edges)"
        parent, child = f"b{link.source}", f"b{link.target}"
        trunks.before(dot, parent, child, EDGE.border)
        dot.edge(trunks.source(parent, child), child, label=label.strip() or None, **attrs)
    if view.hidden:
        dot.node("hidden", text(f"{view.hidden} {NOT_DRAWN}"), shape="note", style="dashed", color="#9ca3af")
    source: str = dot.source
    return source
