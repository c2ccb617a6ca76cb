"""The autograd graph as a terminal tree: root first, children are ``next_functions``.

A node reached a second time (a graph is a DAG, not a tree: ``y * y`` reaches ``y`` twice) is printed
once and then referred to, so shared subgraphs do not blow up. The walk is iterative and the tree is
cut at `MAX_DEPTH` levels and `MAX_LINES` lines, so a 100,000-node chain prints in a moment.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from gradviz.model import BackwardCall, Graph, Node, Overlay
from gradviz.render.devices import copied_leaf_name, move_of, placement
from gradviz.render.failure import RAISED_HERE, RECEIVED_NOTHING, failure_title
from gradviz.render.notes import attribute_text, root_v_text, root_verb
from gradviz.render.state import StepState, step_state
from gradviz.render.style import (
    CURRENT,
    GRADIENT,
    MOVE,
    NOT_REACHED,
    PENDING,
    RAISED,
    format_shape,
    format_value,
    is_zero,
    node_look,
    overlay_look,
)

MAX_DEPTH = 24
MAX_LINES = 2000
WIDTH = 100


def _node_text(node: Node, state: StepState, is_root: bool, graph: Graph) -> Text:
    look = node_look(node, is_root=is_root)
    style = look.tui
    if state.is_pending(node.id):
        style = PENDING.tui
    if node.id == state.current:
        style = CURRENT.tui
    if state.is_unreached(node.id):
        style = NOT_REACHED.tui
    if node.id == state.raised:
        style = RAISED.tui
    tensor = node.tensor
    text = Text()
    if node.is_accumulate_grad:
        name = tensor.label if tensor is not None and tensor.label else copied_leaf_name(graph, node)
        text.append(name or "leaf", style=style)
        text.append(f" (AccumulateGrad #{node.id})", style="dim")
    else:
        text.append(f"{node.name} #{node.id}", style=style)
        if node.location is not None:
            text.append(f"  {node.location}", style="dim")
    if tensor is not None:
        label = f"{tensor.label} " if tensor.label and not node.is_accumulate_grad else ""
        where = placement(graph, tensor, dtype=False)
        text.append(f"  {label}{format_shape(tensor.shape)} {tensor.dtype}" + (f" {where}" if where else ""))
        move = move_of(graph, node)
        if move is not None:
            text.append(f"  copy {move.forward}, grad back {move.back}", style=MOVE.tui)
        grad = state.grad_of(node)
        if state.received_nothing(node):
            text.append(f"  grad {format_value(grad)}", style="bold")
            text.append(f"  {RECEIVED_NOTHING}", style=RAISED.tui)
        elif node.is_accumulate_grad or tensor.retains_grad:
            accumulated = node.is_accumulate_grad and not is_zero(tensor.grad_before)
            accumulated = accumulated and grad is not tensor.grad_before
            if accumulated:
                text.append(f"  grad before {format_value(tensor.grad_before)}", style="dim")
            text.append(f"  grad {format_value(grad)}", style="bold")
            if accumulated:
                text.append(" (accumulated)", style="dim")
    attributes = attribute_text(node)
    if attributes:
        text.append(f"  ({attributes})", style="dim")
    if node.id in state.done and not node.is_accumulate_grad:
        grads = ", ".join(format_value(grad) for grad in state.v.get(node.id, ()))
        text.append(f"  v {grads}", style="green")
    if node.id in state.ran:
        text.append(f"  [step {state.ran[node.id]}]", style="dim")
    if node.id == state.current:
        text.append("  <- this step", style=CURRENT.tui)
    if node.id == state.raised and state.error is not None:
        text.append(f"  <- {RAISED_HERE}: {state.error.type}", style=RAISED.tui)
    return text


def _overlay_text(overlay: Overlay) -> Text:
    look = overlay_look(overlay)
    where = f"  {overlay.location}" if overlay.location is not None else ""
    mark = "!" if overlay.severity == "warning" else "-"
    return Text(f"{mark} {overlay.kind}: {overlay.text}{where}", style=look.tui)


def _title(subject: Graph | BackwardCall, state: StepState) -> Text:
    if isinstance(subject, Graph):
        return Text(f"autograd graph: {len(subject.nodes)} nodes", style="bold")
    where = f" at {subject.location}" if subject.location is not None else ""
    title = Text(f"{subject.api} call #{subject.index}{where}", style="bold")
    if state.step is not None:
        title.append(f"  after step {state.step} of {state.total}")
    failure = failure_title(subject)
    if failure is not None:
        title.append(f"  {failure}", style=RAISED.tui)
    return title


def to_rich(
    subject: Graph | BackwardCall,
    *,
    step: int | None = None,
    overlays: bool = True,
    max_depth: int = MAX_DEPTH,
) -> Tree:
    """The graph as a rich `Tree`, coloured as in the SVG, for printing to a terminal.

    Args:
        subject: A lone graph or a captured backward call.
        step: Show the state after this many backward steps; None for the finished call.
        overlays: List what autograd did not record under the node it concerns.
        max_depth: Levels shown below the root before the rest is summarised in one line.

    Returns:
        A renderable tree.

    Raises:
        StepOutOfRange: `step` is not a step of the call.
    """
    state = step_state(subject, step)
    graph = subject if isinstance(subject, Graph) else subject.graph
    children: dict[int, list[int]] = {}
    for edge in graph.edges:
        children.setdefault(edge.source, []).append(edge.target)
    attached: dict[int, list[Overlay]] = {}
    if overlays:
        for overlay in graph.overlays:
            attached.setdefault(overlay.attached_to if overlay.attached_to is not None else -1, []).append(
                overlay
            )
    tree = Tree(_title(subject, state), guide_style="dim")
    roots = {root.node for root in graph.roots}
    shown: set[int] = set()
    lines = 0
    stack: list[tuple[int, Tree, int]] = []
    for root in reversed(graph.roots):
        if isinstance(subject, Graph) and root.gradient is None:
            # a snapshot: nothing has run yet, so there is no v to show
            heading = f"graph behind {root.label}" if root.label else "graph behind the tensor"
        else:
            verb = root_verb(subject.api if isinstance(subject, BackwardCall) else "backward")
            who = f"{verb} from {root.label}" if root.label else verb
            heading = f"{who}, {root_v_text(root, called=isinstance(subject, BackwardCall))}"
        branch = tree.add(Text(heading, style=GRADIENT.tui))
        stack.append((root.node, branch, 1))
    if not graph.roots:
        stack.extend((node.id, tree, 1) for node in reversed(graph.nodes[:1]))
    while stack:
        node_id, parent, depth = stack.pop()
        if not 0 <= node_id < len(graph.nodes):
            continue
        node = graph.nodes[node_id]
        if node_id in shown:
            parent.add(Text(f"-> see {node.name} #{node_id}", style="dim"))
            continue
        if depth > max_depth or lines >= MAX_LINES:
            hidden = len(graph.nodes) - len(shown)
            reason = f"cut at {max_depth} levels" if depth > max_depth else f"cut at {MAX_LINES} lines"
            parent.add(Text(f"... {hidden} more nodes below ({reason})", style="dim"))
            if lines >= MAX_LINES:
                break
            continue
        shown.add(node_id)
        lines += 1
        branch = parent.add(_node_text(node, state, node_id in roots, graph))
        for overlay in attached.get(node_id, ()):
            branch.add(_overlay_text(overlay))
        stack.extend((child, branch, depth + 1) for child in reversed(children.get(node_id, [])))
    for overlay in attached.get(-1, ()):
        tree.add(_overlay_text(overlay))
    return tree


def to_text(
    subject: Graph | BackwardCall, *, step: int | None = None, width: int = WIDTH, overlays: bool = True
) -> str:
    """The graph as a plain-text tree (no colour), as printed for ``print(gradviz.graph(t))``.

    Args:
        subject: A lone graph or a captured backward call.
        step: Show the state after this many backward steps; None for the finished call.
        width: Line width to wrap at.
        overlays: List what autograd did not record under the node it concerns.

    Returns:
        The tree as text, one node per line.

    Raises:
        StepOutOfRange: `step` is not a step of the call.
    """
    buffer = io.StringIO()
    # In Jupyter rich would display the tree as a cell output of its own instead of writing it to the buffer.
    console = Console(
        file=buffer,
        width=width,
        color_system=None,
        force_terminal=False,
        force_jupyter=False,
        highlight=False,
    )
    depth = max(4, min(MAX_DEPTH, (width - 60) // 4))
    console.print(to_rich(subject, step=step, overlays=overlays, max_depth=depth))
    return buffer.getvalue()
