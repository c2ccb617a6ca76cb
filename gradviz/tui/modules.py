"""The keys that expand and collapse module boxes in the graph pane (the main screen inherits them)."""

from __future__ import annotations

from textual.screen import Screen

from gradviz.render.collapse import choose_depth
from gradviz.tui.display import ViewKey, deepest_depth, toggle_box
from gradviz.tui.widgets.graph_view import GraphView


class ModuleKeys(Screen[None]):
    """Actions on the graph pane's view: open a box, change the module depth, every node or boxes."""

    def _graph(self) -> GraphView:
        return self.query_one("#graph", GraphView)

    def action_toggle_module(self) -> None:
        """Expand the module box of the current node (a root at step 0) into its nodes, or collapse it."""
        graph = self._graph()
        display, key, node = graph.drawing, graph.view_key, graph.focus_node
        if display is None or key is None or node is None:
            self.notify("no node to expand", timeout=2)
            return
        changed, message = toggle_box(display, key, node)
        if changed is not None:
            graph.show_view(changed)
        self.notify(message, timeout=3)

    def _set_depth(self, delta: int) -> None:
        graph = self._graph()
        backward, key = graph.backward, graph.view_key
        if backward is None or key is None:
            return
        deepest = deepest_depth(backward.graph)
        if deepest == 0:
            self.notify("this graph has no module information", timeout=3)
            return
        start = choose_depth(backward.graph) if key.depth is None else key.depth
        depth = max(1, min(start + delta, deepest))
        graph.show_view(ViewKey(depth))
        self.notify(f"module boxes at depth {depth} (of {deepest})", timeout=2)

    def action_deeper(self) -> None:
        """Module boxes one level deeper (``encoder.layers.3`` rather than ``encoder.layers``)."""
        self._set_depth(+1)

    def action_shallower(self) -> None:
        """Module boxes one level shallower."""
        self._set_depth(-1)

    def action_toggle_full(self) -> None:
        """Draw every node, or go back to module boxes."""
        graph = self._graph()
        backward, key = graph.backward, graph.view_key
        if backward is None or key is None:
            return
        if key.depth is None:
            graph.show_view(ViewKey(choose_depth(backward.graph)))
            self.notify("collapsed: one box per module (x expands the current one)", timeout=3)
        else:
            graph.show_view(ViewKey(None))
            self.notify(f"every node drawn ({len(backward.graph.nodes)})", timeout=3)
