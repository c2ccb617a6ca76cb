"""What the HTML player reads besides the drawings: per-step data for each view, and the source lines.

The player restyles a finished drawing step by step, so it needs, per view (every node, or modules
collapsed at a depth), the drawn element of each step and the step each element first ran at; which
box holds each node in each collapsed view (to expand and collapse modules); and the user's source
lines, given by the caller as text so that the renderer never reads files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from gradviz.model import BackwardCall, Location
from gradviz.render.collapse import choose_depth, collapse, module_depth
from gradviz.render.dot import collapsed_depth
from gradviz.render.failure import raised_at
from gradviz.render.jacobian import call_jacobian
from gradviz.render.notes import WHOLE_CALL
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions

__all__ = [
    "FULL_IN_PAGE",
    "SourceLine",
    "other_views",
    "page_data",
    "source_excerpt",
    "steps_data",
    "view_name",
]

#: The full drawing goes into a page beside the collapsed one only up to this many nodes.
FULL_IN_PAGE = 300
#: A source file up to this many lines is shown whole; a longer one around the lines that matter.
WHOLE_FILE = 300
#: Lines of context kept around each line that made a node, in a long file.
CONTEXT = 4

#: One line of source in the page: file, line number and text; None marks left-out lines.
SourceLine = tuple[str, int, str] | None


def _elements(call: BackwardCall, options: RenderOptions) -> dict[int, str]:
    """The drawn element (its SVG ``<title>``) that stands for each node: itself, or its box."""
    depth = collapsed_depth(call.graph, options)
    if depth is None:
        return {node.id: f"n{node.id}" for node in call.graph.nodes}
    return {node: f"b{box.id}" for box in collapse(call.graph, depth).boxes for node in box.nodes}


def steps_data(call: BackwardCall, options: RenderOptions = DEFAULT_OPTIONS) -> dict[str, object]:
    """The drawn element of each step, and when each element first ran, for one drawing.

    Args:
        call: The backward call.
        options: The options the drawing was made with (they decide whether it is collapsed).

    Returns:
        ``{"elements": [element of step 1, ...], "first": {element: step}}``; an element is a drawn
        node or box (``n3``, ``b1``) or edge (``n2->n3``), named as in the SVG's ``<title>``.
    """
    element = _elements(call, options)
    targets = {(edge.source, slot): edge.target for edge in call.graph.edges for slot in edge.slots}
    first: dict[str, int] = {}
    elements = []
    for number, step in enumerate(call.steps, start=1):
        here = element.get(step.node, f"n{step.node}")
        first.setdefault(here, number)
        elements.append(here)
        for slot, grad in enumerate(step.grad_inputs):
            target = targets.get((step.node, slot))
            there = element.get(target, f"n{target}") if target is not None else here
            if grad is not None and there != here:
                first.setdefault(f"{here}->{there}", number)
    if (
        options.shows_jacobians
        and collapsed_depth(call.graph, options) is None
        and call_jacobian(call) is not None
    ):
        first[WHOLE_CALL] = len(call.steps)  # the whole call's v J is the answer of the last step
    return {"elements": elements, "first": first}


def view_name(call: BackwardCall, options: RenderOptions) -> str:
    """``full`` for the drawing of every node, ``depthN`` for the collapsed view at module depth N."""
    depth = collapsed_depth(call.graph, options)
    return "full" if depth is None else f"depth{depth}"


def other_views(call: BackwardCall, options: RenderOptions) -> list[RenderOptions]:
    """The other drawings worth putting in the page, so that its module boxes expand and collapse.

    Each is small: a collapsed view has at most `MAX_BOXES` boxes, and the full drawing goes in only
    for graphs of at most `FULL_IN_PAGE` nodes.

    Args:
        call: The backward call.
        options: The options of the page's main drawing.

    Returns:
        For a full drawing of a graph with modules, its collapsed view. For a collapsed one at depth
        N: the view one module level deeper (when there is one), and the full drawing when small
        enough, else the view one level up. Nothing for a graph without modules that is too big.
    """
    graph = call.graph
    depth = collapsed_depth(graph, options)
    deepest = max((module_depth(node.module) for node in graph.nodes if node.module), default=0)
    if depth is None:
        return [replace(options, full=False, depth=max(choose_depth(graph), 1))] if deepest else []
    views = [replace(options, full=False, depth=depth + 1)] if depth < deepest else []
    if len(graph.nodes) <= FULL_IN_PAGE:
        views.append(replace(options, full=True, depth=None))
    elif depth > 1:
        views.append(replace(options, full=False, depth=depth - 1))
    return views


def _where(location: Location | None) -> str:
    return f"{location.file}:{location.line}" if location is not None else ""


def _level(name: str) -> int:
    return 1_000_000 if name == "full" else int(name.removeprefix("depth"))


def page_data(
    call: BackwardCall, views: Mapping[str, RenderOptions], *, sources: Mapping[str, str] | None = None
) -> dict[str, object]:
    """Everything the player's script reads, as JSON-ready data.

    Args:
        call: The backward call.
        views: The options of each drawing in the page, by `view_name`.
        sources: Text of the user's source files, by `Location.file` (to know which lines exist).

    Returns:
        ``views`` (`steps_data` of each), ``levels`` (the view names from the fewest boxes to every
        node), ``owner`` (per collapsed view, the box of each node by id, null where not drawn: to
        expand or collapse), ``where`` (``file:line`` of each step's node, ``""`` when unknown),
        ``start`` (the call's own line) and ``raised`` (the element of the node a failed call
        raised at, per view).
    """
    graph = call.graph
    where = [
        _where(graph.nodes[step.node].location) if 0 <= step.node < len(graph.nodes) else ""
        for step in call.steps
    ]
    levels = sorted(views, key=_level)
    data: dict[str, object] = {
        "views": {name: steps_data(call, options) for name, options in views.items()},
        "levels": levels,
        "where": where,
        "start": _where(call.location),
    }
    if len(views) > 1:
        owners = {name: _elements(call, options) for name, options in views.items() if name != "full"}
        data["owner"] = {name: [owner.get(node.id) for node in graph.nodes] for name, owner in owners.items()}
    node = raised_at(call)
    if node is not None:
        data["raised"] = {
            name: _elements(call, options).get(node.id, f"n{node.id}") for name, options in views.items()
        }
    return data


def _used_lines(call: BackwardCall) -> dict[str, dict[int, str]]:
    used: dict[str, dict[int, str]] = {}
    locations = [call.location, *(node.location for node in call.graph.nodes)]
    for location in locations:
        if location is not None:
            used.setdefault(location.file, {})[location.line] = location.code or ""
    return used


def source_excerpt(call: BackwardCall, sources: Mapping[str, str] | None = None) -> list[SourceLine]:
    """The source lines the page shows: the whole file when short, else the lines that made nodes.

    Args:
        call: The backward call.
        sources: Text of the user's files by `Location.file`; a file missing here shows only the
            stripped lines the trace recorded.

    Returns:
        ``(file, line, text)`` in file order, the call's file first; None where lines are left out.
    """
    used = _used_lines(call)
    first = call.location.file if call.location is not None else None
    files = sorted(used, key=lambda name: (name != first, name))
    shown: list[SourceLine] = []
    for name in files:
        text = (sources or {}).get(name)
        if text is None:
            numbers = sorted(used[name])
            lines = {number: used[name][number] for number in numbers}
        else:
            all_lines = text.splitlines()
            if len(all_lines) <= WHOLE_FILE:
                numbers = list(range(1, len(all_lines) + 1))
            else:
                near = {n for line in used[name] for n in range(line - CONTEXT, line + CONTEXT + 1)}
                numbers = sorted(n for n in near if 1 <= n <= len(all_lines))
            lines = {number: all_lines[number - 1] for number in numbers}
        previous = 0
        for number in numbers:
            if previous and number != previous + 1:
                shown.append(None)
            shown.append((name, number, lines[number]))
            previous = number
        shown.append(None)
    return shown[:-1]
