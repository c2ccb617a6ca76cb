"""What the graph pane marks at a step: the running node or box, what already ran, the selection.

Pure functions of the backward call, the display and the step, so the pane only restyles runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from rich.style import Style

from gradviz.model import BackwardCall, Event
from gradviz.render import style as look
from gradviz.render.layout import Layout
from gradviz.tui.canvas import Run
from gradviz.tui.display import Display


def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style()


CURRENT = _style(look.CURRENT.tui)
RAISED = _style(look.RAISED.tui)
DONE = _style("green")
DONE_LEAF = _style("bold green")
SELECTED = _style("bold black on yellow")
EDGE = _style("grey46")
FLOW = _style("green")
EDGE_CURRENT = _style("bold red")
GHOST_EDGE = _style("grey35")
PARTLY_DONE = _style("yellow")
MODULE = _style("bold cyan")


@dataclass(frozen=True, slots=True)
class Marks:
    """The state of the drawing at one step.

    Attributes:
        current: The node running (or where the call raised), None at step 0.
        raised: The node where a failed call raised, one step past its last recorded one.
        done: Nodes that ran before the current one.
        current_box: The display node drawing the current node.
        done_boxes: Display nodes all of whose nodes already ran (drawn green with a ✓).
        box_styles: Style of each module box that is running or has run (wholly or in part).
    """

    current: int | None = None
    raised: int | None = None
    done: frozenset[int] = frozenset()
    current_box: int | None = None
    done_boxes: frozenset[int] = frozenset()
    box_styles: Mapping[int, Style] = field(default_factory=dict)


def step_marks(backward: BackwardCall | None, display: Display | None, step: int) -> Marks:
    """The marks after `step` steps of a call ran.

    Args:
        backward: The call shown.
        display: What is drawn.
        step: Steps that ran; one past the last recorded one of a failed call is the failure.

    Returns:
        The marks.
    """
    steps = backward.steps if backward is not None else ()
    error = backward.error if backward is not None else None
    raised = None
    if error is not None and step > len(steps):
        # One past the last recorded step: everything recorded ran, and the call raised here.
        done = {record.node for record in steps}
        current = raised = error.node
    else:
        step = max(0, min(step, len(steps)))
        done = {record.node for record in steps[: max(step - 1, 0)]}
        current = steps[step - 1].node if step else None
    if display is None:
        return Marks(current, raised, frozenset(done))
    current_box = display.owner.get(current) if current is not None else None
    ran = Counter(display.owner[node] for node in done if node in display.owner)
    done_boxes = frozenset(ident for ident, count in ran.items() if count == len(display.members[ident]))
    styles: dict[int, Style] = {}
    for ident in display.boxes:
        if ident == current_box:
            styles[ident] = RAISED if raised is not None else CURRENT
        elif ident in ran:
            styles[ident] = DONE if ident in done_boxes else PARTLY_DONE
    return Marks(current, raised, frozenset(done), current_box, done_boxes, styles)


def selection(backward: BackwardCall | None, event: Event | None) -> set[tuple[str, int]]:
    """The nodes and overlays a timeline event touched: ``("node", id)`` and ``("overlay", id)``.

    Args:
        backward: The call shown.
        event: The selected forward event.

    Returns:
        The keys to highlight.
    """
    selected: set[tuple[str, int]] = set()
    if backward is None or event is None:
        return selected
    tensors = set(event.inputs) | set(event.outputs)
    for node in backward.graph.nodes:
        tensor_id = node.tensor.id if node.tensor is not None else None
        if node.event == event.id or (tensor_id is not None and tensor_id in tensors):
            selected.add(("node", node.id))
    for overlay in backward.graph.overlays:
        if overlay.event == event.id:
            selected.add(("overlay", overlay.id))
    return selected


def run_style(
    run: Run,
    marks: Marks,
    selected: set[tuple[str, int]],
    backward: BackwardCall,
    display: Display,
    layout: Layout,
) -> Style:
    """The style a run of the canvas is drawn in.

    Args:
        run: A box row or an edge cell.
        marks: The step's marks.
        selected: What the selected timeline event touched (see `selection`).
        backward: The call shown.
        display: What is drawn.
        layout: The canvas's layout (for the edges' ends).

    Returns:
        The Rich style.
    """
    if run.kind == "edge":
        route = layout.routes[run.ident] if run.ident < len(layout.routes) else None
        if route is None or route.ghost:
            return GHOST_EDGE
        if route.source[1] == marks.current_box:
            return EDGE_CURRENT
        return FLOW if route.source[1] in marks.done_boxes else EDGE
    if run.kind == "overlay":
        if ("overlay", run.ident) in selected:
            return SELECTED
        overlay = next((o for o in backward.graph.overlays if o.id == run.ident), None)
        if overlay is None:
            return Style(dim=True)
        look_of = look.overlay_look(overlay)
        # Notes stay in the background; a warning is as loud as in the drawings.
        return _style(look_of.tui) + Style(dim=look_of is not look.WARNING)
    members = display.members[run.ident]
    if run.ident in display.boxes:
        if run.ident not in marks.box_styles and any(("node", m) in selected for m in members):
            return SELECTED
        return marks.box_styles.get(run.ident, MODULE)
    node = backward.graph.node(members[0])
    if ("node", node.id) in selected and node.id != marks.current:
        return SELECTED
    if node.id == marks.raised:
        return RAISED
    if node.id == marks.current:
        return CURRENT
    if node.id in marks.done:
        return DONE_LEAF if node.is_accumulate_grad else DONE
    roots = {root.node for root in backward.graph.roots}
    return _style(look.node_look(node, is_root=node.id in roots).tui)
