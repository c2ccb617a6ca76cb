"""The main screen: it owns the state (call, step, selected event, values/shapes) and the panes."""

from __future__ import annotations

import posixpath
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Footer, Static

from gradviz.model import BackwardCall, Location, Trace
from gradviz.render.failure import raised_at
from gradviz.render.source import source_folders
from gradviz.render.stepview import describe_node, find_node, last_step
from gradviz.tui.dialogs import JumpScreen
from gradviz.tui.export import export_step
from gradviz.tui.ledger import LedgerScreen
from gradviz.tui.messages import EventSelected, NodeClicked, StepChanged
from gradviz.tui.modules import ModuleKeys
from gradviz.tui.scrollbars import use_whole_cell_scrollbars
from gradviz.tui.status import status_lines, status_text
from gradviz.tui.widgets.graph_view import GraphView
from gradviz.tui.widgets.source_pane import SourcePane
from gradviz.tui.widgets.step_panel import StepPanel
from gradviz.tui.widgets.timeline import Timeline


class TraceScreen(ModuleKeys):
    """Backward, one step at a time: graph, step details, and the forward timeline or the source.

    | Key | Action |
    |---|---|
    | n, right | next step |
    | p, left | previous step |
    | home, g | first step (nothing has run) |
    | end, G | last step |
    | j | jump to a node |
    | ], [ | next / previous captured backward call |
    | v | toggle values / shapes |
    | t | show the source or the forward timeline |
    | x | expand / collapse the module of the current node |
    | +, - | module boxes one level deeper / shallower |
    | f | every node / module boxes |
    | s | export the current view to SVG |
    | escape | clear the highlighted event |
    """

    BINDINGS = [  # noqa: RUF012
        Binding("n,right", "next_step", "Next", priority=True),
        Binding("p,left", "previous_step", "Prev", priority=True),
        Binding("home,g", "first_step", "First", show=False, priority=True),
        Binding("end,G", "last_step", "Last", show=False, priority=True),
        Binding("t", "switch_lower", "Source/timeline"),
        Binding("x", "toggle_module", "Expand", show=False),
        Binding("plus", "deeper", "Deeper", show=False),
        Binding("minus", "shallower", "Shallower", show=False),
        Binding("f", "toggle_full", "Full/collapsed", show=False),
        Binding("j", "jump", "Jump", show=False),
        Binding("right_square_bracket", "next_call", "Next call", show=False),
        Binding("left_square_bracket", "previous_call", "Prev call", show=False),
        Binding("v", "toggle_values", "Values/shapes", show=False),
        Binding("s", "export", "Export SVG", show=False),
        Binding("l", "ledger", "Ledger", show=False),
        Binding("escape", "clear", "Clear", show=False),
    ]

    call: reactive[int] = reactive(1, init=False)
    step: reactive[int] = reactive(0, init=False)
    selected: reactive[int | None] = reactive(None, init=False)
    show_values: reactive[bool] = reactive(True, init=False)

    def __init__(
        self, trace: Trace, *, call: int = 1, engine: bool = True, source_root: str | Path | None = None
    ) -> None:
        super().__init__()
        self.trace = trace
        self.engine = engine
        self.source_root = source_root
        self._indices = [backward.index for backward in trace.backwards]
        if self._indices and call not in self._indices:
            call = self._indices[0]
        self.set_reactive(TraceScreen.call, call)

    @property
    def backward(self) -> BackwardCall | None:
        """The backward call shown, None when the trace has none."""
        for backward in self.trace.backwards:
            if backward.index == self.call:
                return backward
        return None

    @property
    def step_count(self) -> int:
        """The last step of the call shown: its recorded steps, plus one for the failure of a failed call."""
        backward = self.backward
        return last_step(backward) if backward is not None else 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="graph-pane"):
                yield GraphView(self.trace, call=self.call, engine=self.engine, id="graph")
            with Vertical(id="side"):
                yield StepPanel(self.trace, call=self.call, id="step")
                with ContentSwitcher(id="lower", initial="timeline"):
                    yield Timeline(self.trace.events, dropped=self.trace.events_dropped, id="timeline")
                    yield SourcePane(source_folders(self.trace.script, self.source_root), id="source")
        yield Static(id="status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#step", StepPanel).border_title = "step"
        self.query_one("#timeline", Timeline).border_title = "forward timeline · t: source"
        self.query_one("#source", SourcePane).border_title = "source · t: timeline"
        timeline = self.query_one("#timeline", Timeline)
        if timeline.file is not None:
            timeline.border_subtitle = posixpath.basename(timeline.file)
        use_whole_cell_scrollbars(*self.query("#graph, #step, #timeline, #source"))
        self._show_status()
        self._follow_in_source()

    def _show_status(self) -> None:
        backward = self.backward
        if backward is None:
            lines = [f"{self.trace.backward_calls} backward calls seen, none captured"]
        else:
            highlighted = None
            if self.selected is not None:
                highlighted = (self.selected, len(self.query_one("#graph", GraphView).selected_nodes))
            lines = status_lines(backward, self.step, self._indices, highlighted=highlighted)
        self.query_one("#status", Static).update(status_text(lines))
        text = " · ".join(lines)
        self.sub_title = text

    def watch_call(self) -> None:
        self.set_reactive(TraceScreen.step, 0)
        graph = self.query_one("#graph", GraphView)
        panel = self.query_one("#step", StepPanel)
        graph.set_reactive(GraphView.step, 0)
        panel.set_reactive(StepPanel.step, 0)
        graph.call = self.call
        panel.call = self.call
        self._show_status()
        self._follow_in_source()
        self.post_message(StepChanged(self.call, 0))

    def watch_step(self) -> None:
        self.query_one("#graph", GraphView).step = self.step
        self.query_one("#step", StepPanel).step = self.step
        self._follow_in_timeline()
        self._follow_in_source()
        self._show_status()
        self.post_message(StepChanged(self.call, self.step))

    def current_location(self) -> Location | None:
        """The line that made the node of this step: the running node, where the call raised, or a root.

        Returns:
            The node's location; the backward call's own line when the node has none.
        """
        backward = self.backward
        if backward is None:
            return None
        node = self.query_one("#graph", GraphView).focus_node
        location = backward.graph.node(node).location if node is not None else None
        return location if location is not None else backward.location

    def _follow_in_source(self) -> None:
        self.query_one("#source", SourcePane).show(self.current_location())

    def action_switch_lower(self) -> None:
        """Show the source pane in place of the forward timeline, or back."""
        lower = self.query_one("#lower", ContentSwitcher)
        lower.current = "source" if lower.current == "timeline" else "timeline"

    def _follow_in_timeline(self) -> None:
        """Move the timeline's cursor to the forward op that created the node now running."""
        backward = self.backward
        if backward is None or not 0 < self.step <= len(backward.steps):
            node = raised_at(backward) if backward is not None and self.step else None
            if node is not None and node.event is not None:
                self.query_one("#timeline", Timeline).show_event(node.event)
            return
        event = backward.graph.node(backward.steps[self.step - 1].node).event
        if event is not None:
            self.query_one("#timeline", Timeline).show_event(event)

    def watch_selected(self) -> None:
        self.query_one("#graph", GraphView).event = self.selected
        self._show_status()

    def watch_show_values(self) -> None:
        self.query_one("#step", StepPanel).show_values = self.show_values

    def action_next_step(self) -> None:
        self.step = min(self.step + 1, self.step_count)

    def action_previous_step(self) -> None:
        self.step = max(self.step - 1, 0)

    def action_first_step(self) -> None:
        self.step = 0

    def action_last_step(self) -> None:
        self.step = self.step_count

    def action_next_call(self) -> None:
        self._switch_call(+1)

    def action_previous_call(self) -> None:
        self._switch_call(-1)

    def _switch_call(self, delta: int) -> None:
        if not self._indices:
            return
        position = self._indices.index(self.call) + delta
        if 0 <= position < len(self._indices):
            self.call = self._indices[position]
        else:
            self.notify(f"no {'later' if delta > 0 else 'earlier'} captured backward call", timeout=2)

    def action_toggle_values(self) -> None:
        self.show_values = not self.show_values

    def action_clear(self) -> None:
        self.selected = None

    def action_ledger(self) -> None:
        """Show the ledger: .grad and values over time, zeroings, updates, the loss per step."""
        self.app.push_screen(LedgerScreen(self.trace))

    def action_jump(self) -> None:
        if self.backward is None:
            self.notify("no backward call was captured", severity="warning")
            return
        self.app.push_screen(JumpScreen(), callback=self._jump_to)

    def _jump_to(self, query: str | None) -> None:
        backward = self.backward
        if query is None or backward is None:
            return
        node = find_node(backward.graph, query)
        if node is None:
            self.notify(f"no node matches {query!r}", severity="warning")
            return
        self.jump_to_node(node)

    def jump_to_node(self, node: int) -> None:
        """Move to the step where a node ran (or show it, when it did not run in this call).

        Args:
            node: Id of the node.
        """
        backward = self.backward
        if backward is None:
            return
        for position, record in enumerate(backward.steps):
            if record.node == node:
                self.step = position + 1
                return
        if backward.error is not None and backward.error.node == node:
            self.step = self.step_count
            return
        self.query_one("#graph", GraphView).scroll_to_node(node)
        self.notify(f"{describe_node(backward.graph.node(node))} did not run in this call", timeout=3)

    def on_node_clicked(self, message: NodeClicked) -> None:
        self.jump_to_node(message.node)

    def on_event_selected(self, message: EventSelected) -> None:
        self.selected = message.event
        graph = self.query_one("#graph", GraphView)
        if graph.selected_nodes:
            graph.scroll_to_node(min(graph.selected_nodes))

    def action_export(self) -> None:
        """Write the graph at the current step to ``gradviz-step-<call>-<k>.svg`` in the current folder."""
        export_step(self, self.backward, self.step)
