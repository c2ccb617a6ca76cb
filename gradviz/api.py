"""The Python API: ``trace()``, ``graph()``, ``explain()`` and ``load()``, for use inside code."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gradviz.capture import session
from gradviz.capture.explain import explain as explain_tensor
from gradviz.capture.graph import WalkContext, collector_paused, describe, walk
from gradviz.capture.location import user_frame
from gradviz.capture.names import collect_names
from gradviz.capture.overlay import overlays_for
from gradviz.capture.summary import summarize_many
from gradviz.errors import LayoutEngineMissing, TraceFileError
from gradviz.model import Edge, Graph, Node, Root, Trace
from gradviz.render.style import RenderOptions

if TYPE_CHECKING:
    import networkx as nx

# The renderers, the writers and networkx are imported where they are used: a ``with gradviz.trace()``
# block, or ``gradviz trace``, pays only for capture while the user's code runs.


class Recording(session.Tracer):
    """A `Tracer` that can also write what it recorded, as the CLI does.

    Use it through `gradviz.trace()`::

        with gradviz.trace() as t:
            loss.backward()
        t.backwards[0].steps
        t.save("gradviz-out/debug")
    """

    def save(self, directory: str | Path, formats: Sequence[str] = ("svg",)) -> list[Path]:
        """Write trace.json and one file per captured call and format into `directory`.

        Args:
            directory: Folder to write into (created if needed).
            formats: Any of svg, dot, json, html, png, pdf.

        Returns:
            The paths written.

        Raises:
            GradvizError: The folder is not writable, or a format cannot be made.
        """
        from gradviz.output import write_outputs

        return write_outputs(self.result(), Path(directory), formats)


def trace(*, max_backward: int | None = 3, record_forward: bool = True, jacobians: bool = True) -> Recording:
    """Record what autograd does inside a ``with`` block.

    Args:
        max_backward: How many backward/grad calls to capture step by step (None: all); later calls
            are counted and their effect on each leaf's ``.grad`` summarised.
        record_forward: Whether to record the forward timeline (ops, no_grad, detach, .data edits).
        jacobians: Whether to compute the local Jacobian of small nodes.

    Returns:
        A context manager; after the block, ``.backwards``, ``.events``, ``.findings``, ``.result()``
        and ``.save(dir)`` give what was recorded.
    """
    return Recording(
        max_backward=max_backward, record_forward=record_forward, jacobians=jacobians, source_root=os.getcwd()
    )


class GraphSnapshot:
    """The autograd graph behind a tensor, as it stands: no backward needed.

    Prints as a tree in a terminal and shows as SVG in Jupyter.

    Attributes:
        graph: The captured `Graph` (nodes, edges, roots).
        options: What its drawings show by default (``depth``/``full`` from `graph`).
    """

    def __init__(self, graph: Graph, options: RenderOptions | None = None) -> None:
        self.graph = graph
        self.options = options or RenderOptions()

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node reachable from the tensor's grad_fn, in walk order."""
        return self.graph.nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The distinct next_functions links among the nodes."""
        return self.graph.edges

    def to_dot(self, options: RenderOptions | None = None) -> str:
        """The graph as Graphviz DOT source."""
        from gradviz.render.dot import to_dot

        return to_dot(self.graph, options=options or self.options)

    def to_svg(self, path: str | Path | None = None, options: RenderOptions | None = None) -> str:
        """The graph as SVG, also written to `path` when one is given.

        Raises:
            LayoutEngineMissing: No Graphviz layout engine could be run.
            WriteFailed: `path` could not be written (it is left as it was).
        """
        from gradviz.output import write_file
        from gradviz.render.svg import to_svg

        svg = to_svg(self.graph, options=options or self.options)
        if path is not None:
            write_file(Path(path), svg)
        return svg

    def to_json(self) -> str:
        """The graph as JSON, with the same node and edge records as trace.json."""
        from gradviz.render.json import graph_to_json

        return graph_to_json(self.graph)

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a networkx DiGraph, edges in the backward direction (as next_functions)."""
        import networkx as nx

        digraph = nx.DiGraph()
        for node in self.graph.nodes:
            label = node.tensor.label if node.tensor is not None else None
            digraph.add_node(node.id, name=node.name, label=label)
        digraph.add_edges_from((edge.source, edge.target, {"slots": edge.slots}) for edge in self.graph.edges)
        return digraph

    def __str__(self) -> str:
        from gradviz.render.text import to_text

        return to_text(self.graph)

    def __repr__(self) -> str:
        root = self.graph.nodes[0].name if self.graph.nodes else "none"
        return f"<gradviz graph: {len(self.graph.nodes)} nodes, {len(self.graph.edges)} edges, root {root}>"

    def __rich__(self) -> Any:
        from gradviz.render.text import to_rich

        return to_rich(self.graph)

    def _repr_svg_(self) -> str | None:
        try:
            return self.to_svg()
        except LayoutEngineMissing:
            return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": str(self)}
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        return bundle


def graph(
    tensor: torch.Tensor,
    *,
    depth: int | None = None,
    full: bool = False,
    legend: bool = True,
    rankdir: str = "TB",
    theme: str = "default",
) -> GraphSnapshot:
    """Snapshot the autograd graph behind a tensor.

    Names come from the caller's variables and nn.Module parameters. Inside a `trace()` (or under
    ``gradviz trace``) the snapshot also has each node's source line and what autograd did not record
    (no_grad results, detaches, in-place and ``.data`` edits) so far.

    Args:
        tensor: Any tensor. One that does not require grad gives an empty graph.
        depth: Draw it collapsed, each module at this depth as one box (``1``: ``model.encoder``),
            repeated structure folded (``x12``); ``0`` folds repeated runs of nodes.
        full: Draw every node even when the graph is big (by default graphs of more than 300 nodes
            are drawn collapsed).
        legend: Add the legend to its drawings (``--no-legend`` is ``legend=False``).
        rankdir: ``"TB"`` root at the top, ``"LR"`` root at the left (``--rankdir``).
        theme: ``"default"`` or ``"projector"``: larger type, thicker lines (``--theme``).

    Returns:
        A `GraphSnapshot` with ``.nodes``, ``.edges``, ``.to_dot()``, ``.to_svg()``, ``.to_json()``.

    Raises:
        ValueError: For a `rankdir` or `theme` it does not know (checked before the graph is walked).
    """
    options = _options(depth, full, legend, rankdir, theme)
    tracer = session.active_tracer()
    with tracer.paused() if tracer is not None else contextlib.nullcontext(), collector_paused():
        walked = walk([tensor])
        names = collect_names(user_frame(sys._getframe(1)))
        leaf_ids = [node_id for node_id, fn in enumerate(walked.fns) if type(fn).__name__ == "AccumulateGrad"]
        grads = summarize_many([walked.fns[node_id].variable.grad for node_id in leaf_ids])
        leaves = dict(zip(leaf_ids, grads, strict=True))
        if tracer is None:
            context = WalkContext(names=names, leaf_grads_after=leaves)
        else:
            context = WalkContext(names=names, leaf_grads_after=leaves, tensor_id=tracer.tensor_id)
        roots = (Root(node=0, label=names.name_of(tensor)),) if walked.fns else ()
        snapshot = describe(walked, context, roots)
        if tracer is not None:
            snapshot = dataclasses.replace(snapshot, overlays=overlays_for(snapshot, tracer.events))
        return GraphSnapshot(snapshot, options)


#: RenderOptions by graph()'s arguments: they are frozen, and most calls pass the same few.
_OPTIONS: dict[tuple[Any, ...], RenderOptions] = {}


def _options(depth: int | None, full: bool, legend: bool, rankdir: str, theme: str) -> RenderOptions:
    key = (depth, type(depth), full, legend, rankdir, theme)
    try:
        options = _OPTIONS.get(key)
    except TypeError:  # an argument that cannot be a key: RenderOptions says what is wrong with it
        options = None
    if options is None:
        options = RenderOptions(depth=depth, full=full, legend=legend, rankdir=rankdir, theme=theme)
        if len(_OPTIONS) < 64:
            _OPTIONS[key] = options
    return options


def explain(tensor: torch.Tensor) -> str:
    """Say in plain words why ``tensor.grad`` is what it is.

    Uses what the active (or the most recent) `trace()` recorded when there is one: the no_grad region
    or ``.detach()`` it came from, the ``.data`` edits, and the leaf ledger: which backward calls added
    into ``.grad`` since it was last zeroed, and whether the leaf was updated in between. Parameters are
    named by their module path (``fc1.weight``).

    Args:
        tensor: Any tensor.

    Returns:
        A few sentences, ready to print.
    """
    tracer = session.active_tracer() or session.last_tracer()
    if tracer is None:
        return explain_tensor(tensor, None, ())
    with tracer.paused():
        ledger = tracer.leaf_ledger
        return explain_tensor(
            tensor,
            tracer.events,
            tracer.backwards,
            tensor_id=tracer.tensor_id(tensor),
            label=ledger.label(tensor),
            calls_seen=tracer.backward_calls,
            arrivals=ledger.arrivals(tensor),
        )


def load(path: str | Path) -> Trace:
    """Read a trace.json written by ``gradviz trace`` or ``Recording.save``.

    Raises:
        TraceFileError: The file is missing, not JSON, or of an unknown schema.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise TraceFileError(f"cannot read {path}: {error.strerror or error}") from None
    from gradviz.render.json import from_json

    return from_json(text)
