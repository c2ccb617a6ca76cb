"""The graph pane: the autograd graph drawn in boxes and arrows, restyled at every step."""

from __future__ import annotations

import functools

from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gradviz.model import BackwardCall, Trace
from gradviz.render.layout import Layout, layout_graph
from gradviz.tui.canvas import Canvas, Run
from gradviz.tui.display import Display, ViewKey, build_display, default_view, relabel
from gradviz.tui.marks import Marks, run_style, selection, step_marks
from gradviz.tui.messages import NodeClicked

#: Graphs with at most this many nodes are laid out by the engine before the first paint; bigger
#: ones show the layered layout at once and switch to the engine's when it is done.
ENGINE_IN_PLACE = 300
EMPTY_MESSAGE = (
    "No backward call was captured, so there is no graph to step through.",
    "The forward timeline below shows what the script did.",
)


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
        self._marks = Marks()
        self._selected: set[tuple[str, int]] = set()
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
        return self._marks.current

    @property
    def focus_node(self) -> int | None:
        """The node the pane centres on: the running one, or a root before backward starts."""
        backward = self.backward
        if self._marks.current is not None or backward is None:
            return self._marks.current
        return backward.graph.roots[0].node if backward.graph.roots else None

    @property
    def raised_node(self) -> int | None:
        """Id of the node marked as where the call raised (shown one step past the last recorded one)."""
        return self._marks.raised

    @property
    def done_nodes(self) -> frozenset[int]:
        """Ids of the nodes that ran before the current one."""
        return self._marks.done

    @property
    def selected_nodes(self) -> frozenset[int]:
        """Ids of the nodes highlighted for the selected timeline event."""
        return frozenset(ident for kind, ident in self._selected if kind == "node")

    def box_region(self, node: int) -> Region | None:
        """Where the box drawing a node (itself, or the module box holding it) lies in the scrolled area.

        Args:
            node: Id of a node of the call shown.

        Returns:
            The box's region in cells (with `margin`), or None when it is not drawn.
        """
        if self._canvas is None or self._display is None or node not in self._display.owner:
            return None
        box = self._canvas.boxes.get(("node", self._display.owner[node]))
        return None if box is None else Region(box.x + self.margin, box.y, box.width, box.height)

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
            collapsed = f"graph · modules, depth {key.depth} · x: expand"
            self.border_title = "graph" if key.depth is None else collapsed
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
        self._marks = step_marks(self.backward, self._display, self.step)

    def _select(self) -> None:
        event = self._events.get(self.event) if self.event is not None else None
        self._selected = selection(self.backward, event)

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

    def _run_text(self, run: Run) -> str:
        if run.kind == "node" and run.row == 0 and len(run.text) > 5 and run.ident in self._marks.done_boxes:
            return run.text[:-4] + " ✓ " + run.text[-1]
        return run.text

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        backward, display = self.backward, self._display
        if self._canvas is None or backward is None or display is None:
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
            style = run_style(run, self._marks, self._selected, backward, display, self._canvas.layout)
            segments.append(Segment(self._run_text(run), base + style))
            cursor = end
        margin = self.margin
        if margin:
            segments.insert(0, Segment(" " * margin, base))
        strip = Strip(segments, cursor + margin)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)

    @property
    def margin(self) -> int:
        """Blank columns left of a graph narrower than the pane, so that it is drawn in the middle."""
        if self._canvas is None:
            return 0
        return max((self.size.width - self._canvas.width) // 2, 0)

    def on_click(self, event: events.Click) -> None:
        if self._canvas is None or self._display is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        box = self._canvas.box_at(offset.x + scroll_x - self.margin, offset.y + scroll_y)
        if box is not None and box.kind == "node":
            members = self._display.members[box.ident]
            backward = self.backward
            order = {record.node: k for k, record in enumerate(backward.steps)} if backward else {}
            self.post_message(NodeClicked(min(members, key=lambda m: (order.get(m, len(order)), m))))
