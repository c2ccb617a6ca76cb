"""DOT source for an autograd graph, drawn the way PyTorch's tutorials draw it.

The root (the tensor ``backward()`` started from) is at the top and the leaves at the bottom; edges
point along ``next_functions``, which is the way gradients flow in backward. ``step=k`` shows the
state after the k-th node ran: nodes that ran are filled, the one that just ran has a red border, and
each edge carries the vJ sent along it so far.
"""

from __future__ import annotations

from gradviz.model import BackwardCall, Graph
from gradviz.render.clusters import add_clusters
from gradviz.render.collapse import NODE_BUDGET, choose_depth
from gradviz.render.drawing import Drawing
from gradviz.render.labels import title_lines
from gradviz.render.notes import whole_call_lines
from gradviz.render.overview import to_overview_dot
from gradviz.render.state import step_state
from gradviz.render.style import DEFAULT_OPTIONS, EDGE, RenderOptions
from gradviz.render.theme import apply_theme
from gradviz.render.wrap import Trunks

__all__ = ["RenderOptions", "collapsed_depth", "is_collapsed", "to_dot"]


def to_dot(
    subject: Graph | BackwardCall, *, step: int | None = None, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """DOT source for a graph or a backward call.

    Args:
        subject: A lone graph (``gradviz.graph(tensor)``) or a captured backward call.
        step: Show the state after this many backward steps (0 = before backward); None shows the
            finished call, with every vJ on its edge and every leaf's final ``.grad``.
        options: What to draw; a graph of more than `NODE_BUDGET` nodes is drawn collapsed unless
            ``options.full`` (see `collapsed_depth`); ``options.theme`` restyles it (`apply_theme`).

    Returns:
        DOT source; the same text for the same input.

    Raises:
        StepOutOfRange: `step` is not a step of the call (a `GradvizError` and a `ValueError`).
    """
    state = step_state(subject, step)
    graph = subject if isinstance(subject, Graph) else subject.graph
    depth = collapsed_depth(graph, options)
    if depth is not None:
        return apply_theme(to_overview_dot(subject, state, depth, options.rankdir), options.theme)
    drawing = Drawing(graph, state, options, title_lines(subject, state))
    if isinstance(subject, BackwardCall):
        drawing.ledger = subject.ledger
        drawing.call = subject
        drawing.unedited = {step.node: step.unedited for step in subject.steps if step.unedited}
    drawing.trunks = Trunks((f"n{edge.source}", f"n{edge.target}") for edge in graph.edges)
    for node in graph.nodes:
        drawing.trunks.declare(drawing.dot, f"n{node.id}", EDGE.border)
        drawing.node(node)
    if options.clusters:
        add_clusters(drawing.dot, graph)
    for index, root in enumerate(graph.roots):
        drawing.root(index, root)
    for edge in graph.edges:
        drawing.edge(edge)
    if options.overlays:
        for overlay in graph.overlays:
            drawing.overlay(overlay)
    if options.shows_jacobians and isinstance(subject, BackwardCall) and state.step in (None, state.total):
        whole = whole_call_lines(subject)
        if whole:
            drawing.whole_call(whole)
    if options.legend:
        drawing.legend()
    source: str = drawing.dot.source
    return apply_theme(source, options.theme)


def is_collapsed(graph: Graph, options: RenderOptions = DEFAULT_OPTIONS) -> bool:
    """Whether the drawing of this graph is the collapsed view (cheap: it does not choose the depth).

    Args:
        graph: The graph to draw.
        options: What to draw.

    Returns:
        True when ``options.depth`` is set, or the graph has more than `NODE_BUDGET` nodes and
        ``options.full`` is False.
    """
    return options.depth is not None or (not options.full and len(graph.nodes) > NODE_BUDGET)


def collapsed_depth(graph: Graph, options: RenderOptions = DEFAULT_OPTIONS) -> int | None:
    """The module depth the drawing of this graph collapses to, or None when it draws every node.

    Args:
        graph: The graph to draw.
        options: ``depth`` asks for a depth; ``full`` for every node; otherwise graphs of more than
            `NODE_BUDGET` nodes collapse to the deepest depth that stays readable.

    Returns:
        The depth (0: no module information, repeated runs folded), or None.
    """
    if options.depth is not None:
        return max(options.depth, 0)
    return choose_depth(graph) if is_collapsed(graph, options) else None
