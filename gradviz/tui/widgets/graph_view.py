"""The graph pane: the autograd graph drawn in boxes and arrows, restyled at every step."""

from __future__ import annotations

import functools
from collections import Counter

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gradviz.model import BackwardCall, Trace
from gradviz.render import style as look
from gradviz.render.layout import Layout, layout_graph
from gradviz.tui.canvas import Canvas, Run
from gradviz.tui.display import Display, ViewKey, build_display, default_view, relabel
from gradviz.tui.messages import NodeClicked

#: Graphs with at most this many nodes are laid out by the engine before the first paint; bigger
#: ones show the layered layout at once and switch to the engine's when it is done.
ENGINE_IN_PLACE = 300
EMPTY_MESSAGE = (
    "No backward call was captured, so there is no graph to step through.",
    "The forward timeline below shows what the script did.",
)


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


class GraphView(ScrollView, can_focus=True):
    """The DAG of the backward call shown, with the current node highlighted and kept in the middle.

    The node running at the current step is drawn in reverse red (white on red where a failed call
    raised, one step past its last recorded one), nodes that already ran are
    green with a ✓, AccumulateGrad (leaf) boxes have heavy borders, and what autograd did not
    record (no_grad, detach, .data) hangs off the graph as dimmed dashed ghosts. A graph above the
    drawings' node budget opens collapsed: one double-bordered box per module (or fold), lit while
    one of its nodes runs. Click a box to jump to the step where that node ran.

    | Key | Action |
    |---|---|
    | up / down, page up / page down | scroll |
    | shift+left / shift+right | pan sideways |
    | c | centre on the current node |
    """

    BINDINGS = [  # noqa: RUF012
        Binding("shift+left", "scroll_left", "Pan left", show=False),
        Binding("shift+right", "scroll_right", "Pan right", show=False),
        Binding("c", "centre", "Centre", show=False),
    ]

    call: reactive[int] = reactive(1, init=False)
    step: reactive[int] = reactive(0, init=False)
    event: reactive[int | None] = reactive(None, init=False)

    def __init__(self, trace: Trace, *, call: int = 1, engine: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.trace = trace
        self.engine = engine
        self._calls = {backward.index: backward for backward in trace.backwards}
        self._events = {event.id: event for event in trace.events}
        self._views: dict[int, ViewKey] = {}
        self._displays: dict[tuple[int, ViewKey], Display] = {}
        self._canvases: dict[tuple[int, ViewKey], Canvas] = {}
        self._display: Display | None = None
        self._canvas: Canvas | None = None
        self._current: int | None = None
        self._raised: int | None = None
        self._done: set[int] = set()
        self._box_styles: dict[int, Style] = {}
        self._done_boxes: set[int] = set()
        self._current_box: int | None = None
        self._selected: set[tuple[str, int]] = set()
        self._overlay_kinds: dict[int, str] = {}
        self.set_reactive(GraphView.call, call)

    @property
    def backward(self) -> BackwardCall | None:
        """The backward call shown, None when the trace has none."""
        return self._calls.get(self.call)

    @property
    def layout_result(self) -> Layout | None:
        """The cell layout of the call shown."""
        return self._canvas.layout if self._canvas is not None else None

    @property
    def drawing(self) -> Display | None:
        """What is drawn: every node, or module boxes (see `gradviz.tui.display`)."""
        return self._display

    @property
    def view_key(self) -> ViewKey | None:
        """The view of the call shown: its module depth (None: every node) and the boxes opened."""
        return self._views.get(self.call)

    @property
    def current_node(self) -> int | None:
        """Id of the node highlighted as running at this step."""
        return self._current

    @property
    def focus_node(self) -> int | None:
        """The node the pane centres on: the running one, or a root before backward starts."""
        backward = self.backward
        if self._current is not None or backward is None:
            return self._current
        return backward.graph.roots[0].node if backward.graph.roots else None

    @property
    def raised_node(self) -> int | None:
        """Id of the node marked as where the call raised (shown one step past the last recorded one)."""
        return self._raised

    @property
    def done_nodes(self) -> frozenset[int]:
        """Ids of the nodes that ran before the current one."""
        return frozenset(self._done)

    @property
    def selected_nodes(self) -> frozenset[int]:
        """Ids of the nodes highlighted for the selected timeline event."""
        return frozenset(ident for kind, ident in self._selected if kind == "node")

    def box_region(self, node: int) -> Region | None:
        """Where the box drawing a node (itself, or the module box holding it) lies in the whole graph.

        Args:
            node: Id of a node of the call shown.

        Returns:
            The box's region in graph cells, or None when it is not drawn.
        """
        if self._canvas is None or self._display is None or node not in self._display.owner:
            return None
        box = self._canvas.boxes.get(("node", self._display.owner[node]))
        return None if box is None else Region(box.x, box.y, box.width, box.height)

    def on_mount(self) -> None:
        self._load()

    def _load(self) -> None:
        backward = self.backward
        if backward is None:
            self._canvas = self._display = None
            self.virtual_size = Size(max(len(line) for line in EMPTY_MESSAGE), len(EMPTY_MESSAGE))
        else:
            key = self._views.setdefault(backward.index, default_view(backward.graph))
            cache = (backward.index, key)
            if cache not in self._displays:
                self._displays[cache] = build_display(backward.graph, key)
            display = self._display = self._displays[cache]
            if cache not in self._canvases:
                in_place = self.engine and len(display.graph.nodes) <= ENGINE_IN_PLACE
                self._canvases[cache] = self._paint(layout_graph(display.graph, engine=in_place), display)
                if self.engine and not in_place:
                    # Start the engine only once the first screen is drawn: it competes for the CPU.
                    self.call_after_refresh(
                        self.run_worker,
                        functools.partial(self._engine_layout, cache, display),
                        thread=True,
                        group="layout",
                        description=f"layout of call {backward.index}",
                    )
            self._canvas = self._canvases[cache]
            self.border_title = "graph" if key.depth is None else f"graph · module boxes, depth {key.depth}"
            self._overlay_kinds = {overlay.id: overlay.kind for overlay in backward.graph.overlays}
            self.virtual_size = Size(self._canvas.width, self._canvas.height)
        self._restate()
        self._select()
        self.refresh()
        self.call_after_refresh(self.action_centre)

    @staticmethod
    def _paint(layout: Layout, display: Display) -> Canvas:
        return Canvas(relabel(layout, display.labels), display.graph, frozenset(display.boxes))

    def _engine_layout(self, cache: tuple[int, ViewKey], display: Display) -> None:
        """Lay a big graph out with the engine in a thread; swap it in when it is ready."""
        layout = layout_graph(display.graph)
        if layout.engine != "layered":
            self.app.call_from_thread(self._install, cache, self._paint(layout, display))

    def _install(self, cache: tuple[int, ViewKey], canvas: Canvas) -> None:
        self._canvases[cache] = canvas
        if cache == (self.call, self.view_key):
            self._load()

    def show_view(self, key: ViewKey) -> None:
        """Draw the call shown with another view (a depth, boxes opened, or every node).

        Args:
            key: The view.
        """
        if self.backward is None:
            return
        self._views[self.call] = key
        self._load()

    def watch_call(self) -> None:
        self._load()

    def watch_step(self) -> None:
        self._restate()
        self.refresh()
        self.action_centre()

    def watch_event(self) -> None:
        self._select()
        self.refresh()

    def _restate(self) -> None:
        backward = self.backward
        steps = backward.steps if backward is not None else ()
        error = backward.error if backward is not None else None
        self._raised = None
        if error is not None and self.step > len(steps):
            # One past the last recorded step: everything recorded ran, and the call raised here.
            self._done = {record.node for record in steps}
            self._current = self._raised = error.node
        else:
            step = max(0, min(self.step, len(steps)))
            self._done = {record.node for record in steps[: max(step - 1, 0)]}
            self._current = steps[step - 1].node if step else None
        self._box_styles = {}
        display = self._display
        if display is None:
            return
        current = display.owner.get(self._current) if self._current is not None else None
        ran = Counter(display.owner[node] for node in self._done if node in display.owner)
        self._done_boxes = {ident for ident, count in ran.items() if count == len(display.members[ident])}
        self._current_box = current
        for ident in display.boxes:
            if ident == current:
                self._box_styles[ident] = RAISED if self._raised is not None else CURRENT
            elif ident in ran:
                self._box_styles[ident] = DONE if ident in self._done_boxes else PARTLY_DONE

    def _select(self) -> None:
        self._selected = set()
        backward = self.backward
        event = self._events.get(self.event) if self.event is not None else None
        if backward is None or event is None:
            return
        tensors = set(event.inputs) | set(event.outputs)
        for node in backward.graph.nodes:
            tensor_id = node.tensor.id if node.tensor is not None else None
            if node.event == event.id or (tensor_id is not None and tensor_id in tensors):
                self._selected.add(("node", node.id))
        for overlay in backward.graph.overlays:
            if overlay.event == event.id:
                self._selected.add(("overlay", overlay.id))

    def action_centre(self) -> None:
        """Scroll so that the current node (a root at step 0, else the first selected one) is centred."""
        target = self.focus_node
        if target is None and self.selected_nodes:
            target = min(self.selected_nodes)
        if target is not None:
            self.scroll_to_node(target)

    def scroll_to_node(self, node: int) -> None:
        """Scroll so that the box drawing a node is in the middle of the pane, without animation.

        Args:
            node: Id of a node of the call shown.
        """
        region = self.box_region(node)
        if region is None:
            return
        x = region.x + region.width // 2 - self.size.width // 2
        y = region.y + region.height // 2 - self.size.height // 2
        self.scroll_to(max(x, 0), max(y, 0), animate=False, immediate=True)

    def _run_style(self, run: Run) -> Style:
        backward, display = self.backward, self._display
        assert backward is not None and display is not None
        if run.kind == "edge":
            route = self._canvas.layout.routes[run.ident] if self._canvas is not None else None
            if route is None or route.ghost:
                return GHOST_EDGE
            if route.source[1] == self._current_box:
                return EDGE_CURRENT
            return FLOW if route.source[1] in self._done_boxes else EDGE
        if run.kind == "overlay":
            if ("overlay", run.ident) in self._selected:
                return SELECTED
            kind = self._overlay_kinds.get(run.ident, "")
            look_of = look.OVERLAY_LOOKS.get(kind)
            return (_style(look_of.tui) if look_of is not None else Style()) + Style(dim=True)
        members = display.members[run.ident]
        if run.ident in display.boxes:
            if run.ident not in self._box_styles and any(("node", m) in self._selected for m in members):
                return SELECTED
            return self._box_styles.get(run.ident, MODULE)
        node = backward.graph.node(members[0])
        if ("node", node.id) in self._selected and node.id != self._current:
            return SELECTED
        if node.id == self._raised:
            return RAISED
        if node.id == self._current:
            return CURRENT
        if node.id in self._done:
            return DONE_LEAF if node.is_accumulate_grad else DONE
        roots = {root.node for root in backward.graph.roots}
        return _style(look.node_look(node, is_root=node.id in roots).tui)

    def _run_text(self, run: Run) -> str:
        if run.kind == "node" and run.row == 0 and len(run.text) > 5 and run.ident in self._done_boxes:
            return run.text[:-4] + " ✓ " + run.text[-1]
        return run.text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if self._canvas is None:
            text = EMPTY_MESSAGE[y] if y < len(EMPTY_MESSAGE) else ""
            return Strip([Segment(text, base)]).extend_cell_length(width, base)
        segments: list[Segment] = []
        cursor = 0
        for run in self._canvas.row(scroll_y + y):
            end = run.x + len(run.text)
            if end <= scroll_x or run.x < cursor:
                continue
            if run.x >= scroll_x + width:
                break
            if run.x > cursor:
                segments.append(Segment(" " * (run.x - cursor), base))
            segments.append(Segment(self._run_text(run), base + self._run_style(run)))
            cursor = end
        strip = Strip(segments, cursor)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)

    def on_click(self, event: events.Click) -> None:
        if self._canvas is None or self._display is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        box = self._canvas.box_at(offset.x + scroll_x, offset.y + scroll_y)
        if box is not None and box.kind == "node":
            members = self._display.members[box.ident]
            backward = self.backward
            order = {record.node: k for k, record in enumerate(backward.steps)} if backward else {}
            self.post_message(NodeClicked(min(members, key=lambda m: (order.get(m, len(order)), m))))
