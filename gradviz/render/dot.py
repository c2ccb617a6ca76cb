"""DOT source for an autograd graph, drawn the way PyTorch's tutorials draw it.

The root (the tensor ``backward()`` started from) is at the top and the leaves at the bottom; edges
point along ``next_functions``, which is the way gradients flow in backward. ``step=k`` shows the
state after the k-th node ran: nodes that ran are filled, the one that just ran has a red border, and
each edge carries the vJ sent along it so far.
"""

from __future__ import annotations

import html

import graphviz

from gradviz.model import BackwardCall, Edge, Graph, Node, Overlay, Root, Value
from gradviz.render.state import StepState, step_state
from gradviz.render.style import (
    CURRENT,
    DEFAULT_OPTIONS,
    EDGE,
    EDGE_KINDS,
    FLOW,
    FONT,
    FONT_SIZE,
    GRADIENT,
    MONO_FONT,
    MUTED,
    NOTE,
    PENDING,
    SMALL_FONT_SIZE,
    WARNING,
    Look,
    RenderOptions,
    format_shape,
    format_value,
    is_zero,
    legend_entries,
    node_look,
    overlay_look,
)

__all__ = ["RenderOptions", "to_dot"]

_OVERLAY_EDGE_LABELS = {
    "no_grad": "no_grad",
    "detach": "detach()",
    "inplace": "in-place",
    "data_edit": ".data",
    "requires_grad_off": "requires_grad=False",
}

_TITLE_CODE = 60


#: Control characters are not allowed in Graphviz's HTML-like labels: show them escaped.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


#: Overlays that stand for a new tensor (so its name heads the box), not for an edit of a drawn one.
_NEW_TENSOR_OVERLAYS = frozenset({"no_grad", "detach", "requires_grad_off"})


def _text(text: str) -> str:
    return html.escape(text.translate(_CONTROL), quote=False)


def _small(text: str, *, mono: bool = False, color: str = MUTED) -> str:
    face = f' face="{MONO_FONT}"' if mono else ""
    return f'<font point-size="{SMALL_FONT_SIZE}" color="{color}"{face}>{_text(text)}</font>'


def _html(lines: list[str]) -> str:
    return "<" + "<br/>".join(lines) + ">"


class _Drawing:
    """Builds one DOT graph; a class only to share the state and options between the parts."""

    def __init__(self, graph: Graph, state: StepState, options: RenderOptions, title: str | None) -> None:
        self.graph = graph
        self.state = state
        self.options = options
        self.kinds: set[str] = set()
        self.current_defaults: dict[str, dict[str, str]] = {}
        self.roots = {root.node for root in graph.roots}
        self.dot = graphviz.Digraph(
            name="gradviz",
            graph_attr={"rankdir": "TB", "fontname": FONT, "nodesep": "0.3", "ranksep": "0.4"},
            node_attr={"fontname": FONT, "fontsize": FONT_SIZE, "margin": "0.12,0.06"},
            edge_attr={"fontname": MONO_FONT, "fontsize": SMALL_FONT_SIZE, "arrowsize": "0.7"},
        )
        if title is not None:
            self.dot.attr(label=_html([_text(title)]), labelloc="t", fontsize="12")

    def value(self, value: Value | None) -> str:
        return format_value(value, max_values=self.options.max_label_values, values=self.options.values)

    def node(self, node: Node) -> None:
        look = node_look(node, is_root=node.id in self.roots)
        self.kinds.add(look.kind)
        attrs = look.node_attrs()
        if self.state.is_pending(node.id):
            attrs.update(PENDING.node_attrs())
            self.kinds.add(PENDING.kind)
        if node.id == self.state.current:
            attrs.update(color=CURRENT.border, penwidth=CURRENT.penwidth)
            self.kinds.add(CURRENT.kind)
        lines = self.leaf_lines(node) if node.is_accumulate_grad else self.op_lines(node)
        if node.id in self.state.ran:
            lines.append(_small(f"backward step {self.state.ran[node.id]} of {self.state.total}"))
        self.defaults("node", attrs)
        self.dot.node(f"n{node.id}", _html(lines))

    def defaults(self, kind: str, attrs: dict[str, str]) -> None:
        """Set node or edge defaults only when they change: quoting attributes per node is slow."""
        if self.current_defaults.get(kind) != attrs:
            self.current_defaults[kind] = attrs
            self.dot.attr(kind, **attrs)

    def leaf_lines(self, node: Node) -> list[str]:
        tensor = node.tensor
        name = tensor.label if tensor is not None and tensor.label else "leaf"
        lines = [f"<b>{_text(name)}</b>"]
        if self.options.source and node.location is not None:
            lines.append(_small(f"made at {node.location}"))
        if tensor is not None:
            lines.append(
                _small(f"{format_shape(tensor.shape)} {tensor.dtype} requires_grad={tensor.requires_grad}")
            )
        lines.append(_small("AccumulateGrad"))
        if tensor is None:
            return lines
        before = tensor.grad_before
        grad = self.state.grad_of(node)
        accumulated = not is_zero(before) and grad is not before
        if accumulated:
            lines.append(_small(f"grad before: {self.value(before)}", mono=True))
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
            shape = format_shape(tensor.shape) if tensor.shape else "scalar"
            lines.append(_small(f"output {made}{shape}"))
        if self.options.saved and node.saved:
            listed = ", ".join(
                f"{saved.name}" + (f"={saved.label}" if saved.label else "") + f" {self.value(saved.value)}"
                for saved in node.saved
            )
            lines.append(_small(f"saved: {listed}", mono=True))
        if tensor is not None and tensor.retains_grad:
            lines.append(_small(f"retain_grad(): grad {self.value(self.state.grad_of(node))}", mono=True))
        if node.id in self.state.done:
            grads = ", ".join(self.value(grad) for grad in self.state.v.get(node.id, ()))
            lines.append(_small(f"v in: {grads}", mono=True, color="black"))
        return lines

    def edge(self, edge: Edge) -> None:
        sent = self.state.flows.get((edge.source, edge.target))
        look = FLOW if sent is not None else EDGE
        self.kinds.add(look.kind)
        attrs = look.edge_attrs()
        if sent is not None:
            attrs["label"] = " + ".join(self.value(grad) for grad in sent)
        elif len(edge.slots) > 1:
            attrs["label"] = f"x{len(edge.slots)}"
        label = attrs.pop("label", None)
        self.defaults("edge", attrs)
        self.dot.edge(f"n{edge.source}", f"n{edge.target}", label=label)

    def root(self, index: int, root: Root) -> None:
        self.kinds.add(GRADIENT.kind)
        who = f" from {root.label}" if root.label else ""
        lines = [
            _text(f"backward(){who}"),
            _small(f"v = {self.value(root.gradient)}", mono=True, color="black"),
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
        if overlay.location is not None:
            lines.append(_small(str(overlay.location)))
        self.dot.node(f"o{overlay.id}", _html(lines), **look.node_attrs())
        if overlay.attached_to is not None and 0 <= overlay.attached_to < len(self.graph.nodes):
            attrs = {**look.edge_attrs(), "label": _OVERLAY_EDGE_LABELS.get(overlay.kind, overlay.kind)}
            attrs["style"] = "dashed"
            attrs["arrowhead"] = "tee" if overlay.kind == "detach" else "none"
            self.dot.edge(f"n{overlay.attached_to}", f"o{overlay.id}", **attrs)

    def legend(self) -> None:
        rows = ['<tr><td colspan="2" border="0"><b>legend</b></td></tr>']
        rows.extend(_legend_row(look) for look in legend_entries(self.kinds))
        table = '<table border="1" color="#9ca3af" cellborder="1" cellspacing="4" cellpadding="3">'
        with self.dot.subgraph(name="legend_rank") as bottom:
            bottom.attr(rank="sink")
            plain = {
                "style": "solid",
                "fillcolor": "white",
                "color": "black",
                "fontcolor": "black",
                "penwidth": "1",
            }
            bottom.node("legend", f"<{table}{''.join(rows)}</table>>", shape="plaintext", margin="0", **plain)


def _legend_row(look: Look) -> str:
    description = f'<td border="0" align="left">{_small(look.legend, color="black")}</td>'
    if look.kind in EDGE_KINDS:
        bold = "<b>-----&gt;</b>" if "bold" in look.style else "-----&gt;"
        swatch = f'<td border="0"><font color="{look.border}">{bold}</font></td>'
        return f"<tr>{swatch}{description}</tr>"
    fill = "white" if "filled" not in look.style else look.fill
    dashed = ' style="dashed"' if "dashed" in look.style else ""
    width = "2" if float(look.penwidth) > 1 else "1"
    swatch = (
        f'<td bgcolor="{fill}" color="{look.border}" border="{width}"{dashed}>'
        f'<font color="{look.font_color}">{_text(look.kind)}</font></td>'
    )
    return f"<tr>{swatch}{description}</tr>"


def _title(subject: Graph | BackwardCall, state: StepState) -> str | None:
    if isinstance(subject, Graph):
        return None
    where = f" at {subject.location}" if subject.location is not None else ""
    code = ""
    if subject.location is not None and subject.location.code:
        line = subject.location.code
        code = f": {line if len(line) <= _TITLE_CODE else line[: _TITLE_CODE - 3] + '...'}"
    text = f"{subject.api} call #{subject.index}{where}{code}"
    if state.step is not None:
        text += f" (after step {state.step} of {state.total})"
    return text


def to_dot(
    subject: Graph | BackwardCall, *, step: int | None = None, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """DOT source for a graph or a backward call.

    Args:
        subject: A lone graph (``gradviz.graph(tensor)``) or a captured backward call.
        step: Show the state after this many backward steps (0 = before backward); None shows the
            finished call, with every vJ on its edge and every leaf's final ``.grad``.
        options: What to draw.

    Returns:
        DOT source; the same text for the same input.

    Raises:
        StepOutOfRange: `step` is not a step of the call (a `GradvizError` and a `ValueError`).
    """
    state = step_state(subject, step)
    graph = subject if isinstance(subject, Graph) else subject.graph
    drawing = _Drawing(graph, state, options, _title(subject, state))
    for node in graph.nodes:
        drawing.node(node)
    for index, root in enumerate(graph.roots):
        drawing.root(index, root)
    for edge in graph.edges:
        drawing.edge(edge)
    if options.overlays:
        for overlay in graph.overlays:
            drawing.overlay(overlay)
    if options.legend:
        drawing.legend()
    source: str = drawing.dot.source
    return source
