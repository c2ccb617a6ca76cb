"""One self-contained HTML player per backward call: the drawing, step controls, the source beside it.

The page needs no network: the SVG (and, where they stay small, drawings at other module depths to
expand and collapse modules), the styles, the per-step data (JSON) and the script (player.js) are
inline. It opens before backward; next, back, play and the keyboard step through the call,
restyling the finished drawing (nodes not run yet dashed, the running node in red and kept in
view), revealing the steps table one row at a time, and highlighting the line of the user's code
that made the node. The page grows with nodes plus steps, not with their product.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from importlib import resources

from gradviz.model import BackwardCall, Graph, LedgerEntry, Node, Root, Value
from gradviz.render.devices import node_notes as device_notes
from gradviz.render.failure import RAISED_HERE, RECEIVED_NOTHING, error_text, raised_at, where_it_stopped
from gradviz.render.notes import (
    attribute_text,
    local_jacobian_lines,
    non_leaf_grad_text,
    root_v_text,
    root_verb,
    whole_call_lines,
)
from gradviz.render.pagedata import SourceLine, page_data, source_excerpt, steps_data, view_name
from gradviz.render.pageledger import ledger_panel
from gradviz.render.state import step_state
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions, format_value

__all__ = ["steps_data", "to_html"]

_CSS = resources.files("gradviz.render").joinpath("player.css").read_text(encoding="utf-8")
_SCRIPT = resources.files("gradviz.render").joinpath("player.js").read_text(encoding="utf-8")

_TOOLBAR = (
    '<div class="toolbar">'
    '<button data-action="first" title="first (Home)">|&#x25C0;</button>'
    '<button data-action="back" title="back (p or left arrow)">&#x25C0; back</button>'
    '<button data-action="play" id="play" title="play / pause (space)">&#x25B6; play</button>'
    '<button data-action="next" title="next (n or right arrow)">next &#x25B6;</button>'
    '<button data-action="last" title="last (End)">&#x25B6;|</button>'
    '<input type="range" id="step" min="0" max="{total}" value="0" aria-label="step">'
    '<span id="step-label"></span>'
    '<button data-action="zoom-out" title="zoom out (-)">&minus;</button>'
    '<button data-action="zoom-in" title="zoom in (+)">+</button>'
    '<button data-action="fit" title="fit the drawing (f)">fit</button>'
    '<button data-action="actual" title="readable size (0)">reset</button>'
    "{toggle}"
    '<span class="keys">keys: n/p or arrows, space, Home/End, +/-, f; wheel zooms, drag pans</span>'
    "</div>"
)

_NO_ENGINE = "pip install graphviz-pure, or install Graphviz"
#: A None in grad_inputs: autograd sends nothing to an input that does not require grad.
_NO_GRADIENT = "this input needs no gradient"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _inline_svg(svg: str) -> str:
    """The <svg> element alone: an XML prolog or DOCTYPE is not allowed inside HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else _esc(svg)


def _values(values: Sequence[Value | None]) -> str:
    return "<br>".join(_esc(format_value(value, max_values=16)) for value in values) or "&ndash;"


def _steps_table(call: BackwardCall) -> str:
    graph = call.graph
    targets: dict[tuple[int, int], int] = {}
    for edge in graph.edges:
        for slot in edge.slots:
            targets[(edge.source, slot)] = edge.target
    rows = [
        "<tr><th>step</th><th>node</th><th>created at</th><th>v in (grad_outputs)</th>"
        "<th>vJ out (grad_inputs) &rarr; next_functions</th><th>local J (vJ = v J)</th><th>notes</th></tr>"
    ]
    state = step_state(call)
    for number, step in enumerate(call.steps, start=1):
        node = graph.nodes[step.node] if 0 <= step.node < len(graph.nodes) else None
        name = f"{node.name} #{step.node}" if node is not None else f"#{step.node}"
        where = str(node.location) if node is not None and node.location is not None else ""
        sent = []
        for slot, grad in enumerate(step.grad_inputs):
            target = targets.get((step.node, slot))
            if grad is None and target is None:
                sent.append(f"None ({_NO_GRADIENT})")
                continue
            to = f" &rarr; {_esc(graph.nodes[target].name)} #{target}" if target is not None else ""
            sent.append(f"{_esc(format_value(grad, max_values=16))}{to}")
        if node is not None and node.is_accumulate_grad:
            sent.append("added into .grad")
        local = "\n".join(local_jacobian_lines(graph, state, step.node, max_columns=16))
        rows.append(
            f'<tr data-step="{number}" hidden><td>{number}</td><td>{_esc(name)}</td><td>{_esc(where)}</td>'
            f'<td class="v">{_values(step.grad_outputs)}</td><td class="v">{"<br>".join(sent)}</td>'
            f'<td><pre class="v">{_esc(local)}</pre></td><td>{_node_notes(node, graph)}</td></tr>'
        )
    if call.error is not None:
        node = raised_at(call)
        name = f"{node.name} #{node.id}" if node is not None else "(not known)"
        where = str(node.location) if node is not None and node.location is not None else ""
        rows.append(
            f'<tr class="failed"><td>&#x2717;</td><td>{_esc(name)}</td><td>{_esc(where)}</td>'
            f'<td colspan="2">{RAISED_HERE}: {_esc(error_text(call.error, limit=None))}</td></tr>'
        )
    return '<table id="steps">' + "".join(rows) + "</table>"


def _node_notes(node: Node | None, graph: Graph) -> str:
    """What a node holds besides tensors, why its tensor has no ``.grad``, and where it lives."""
    if node is None:
        return ""
    notes = [text for text in (attribute_text(node), non_leaf_grad_text(node)) if text]
    notes.extend(device_notes(graph, node))
    if node.tensor is not None and node.tensor.retains_grad:
        notes.append(".grad: the v it received (retain_grad())")
    return "<br>".join(_esc(note) for note in notes)


def _whole_call(call: BackwardCall) -> str:
    """The whole call as one vector-Jacobian product, shown when the last step has run."""
    lines = whole_call_lines(call)
    if not lines:
        return ""
    body = _esc("\n".join(lines[1:]))
    head = f"<h2>{_esc(lines[0])}</h2>"
    return f'<div class="at-end" id="whole-call" hidden>{head}<pre class="v">{body}</pre></div>'


def _leaves_table(call: BackwardCall) -> str:
    rows = ["<tr><th>leaf</th><th>shape</th><th>.grad before</th><th>.grad after</th></tr>"]
    state = step_state(call)
    for node in call.graph.leaves:
        tensor = node.tensor
        if tensor is None:
            continue
        after = _esc(format_value(tensor.grad_after, max_values=16))
        if state.received_nothing(node):
            after = f'<span class="failed">{RECEIVED_NOTHING}</span>'
        rows.append(
            f"<tr><td>{_esc(tensor.label or f'leaf #{node.id}')}</td><td>{_esc(str(list(tensor.shape)))}</td>"
            f'<td class="v">{_esc(format_value(tensor.grad_before, max_values=16))}</td>'
            f'<td class="v">{after}</td></tr>'
        )
    if len(rows) == 1:
        return ""
    return (
        '<div class="at-end" hidden><h2>Leaves and their .grad</h2><table>' + "".join(rows) + "</table></div>"
    )


def _source(lines: Sequence[SourceLine]) -> str:
    """The source pane: each line tagged ``file:line`` so the script can highlight the current one."""
    if not lines:
        return ""
    parts = ['<pre class="source" id="source">']
    last_file = None
    for line in lines:
        if line is None:
            parts.append('<span class="gap">&hellip;</span>')
            continue
        name, number, text = line
        if name != last_file:
            parts.append(f'<span class="file">{_esc(name)}</span>')
            last_file = name
        parts.append(
            f'<span class="line" data-loc="{_esc(name)}:{number}"><span class="ln">{number}</span>'
            f"{_esc(text)}</span>"
        )
    parts.append("</pre>")
    return "".join(parts)


def _root_line(root: Root, api: str) -> str:
    who = f" from {root.label}" if root.label else ""
    return f"{root_verb(api)}{who}: {root_v_text(root, max_values=16)}"


def _script_json(data: dict[str, object]) -> str:
    """JSON safe inside a <script> element (no ``</`` that could end it)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).replace("</", "<\\/")


def to_html(
    call: BackwardCall,
    svg: str | None,
    *,
    title: str | None = None,
    options: RenderOptions = DEFAULT_OPTIONS,
    others: Sequence[tuple[str, RenderOptions]] = (),
    sources: Mapping[str, str] | None = None,
    ledger: Sequence[LedgerEntry] = (),
) -> str:
    """A self-contained player page for one backward call.

    Args:
        call: The backward call.
        svg: The drawing of the finished call (made with `options`), or None when no layout engine
            could run.
        title: Page title; defaults to the call's API, number and line.
        options: The options the drawing was made with.
        others: Other drawings of the same call and their options (collapsed views at other module
            depths, the full drawing: see `other_views`), so the page can expand and collapse modules.
        sources: Text of the user's source files by `Location.file`, read by the caller; without it
            the page shows the stripped lines the trace recorded.
        ledger: The trace's whole ledger (`Trace.ledger`), for the ledger panel: each leaf's ``.grad``
            and value before, during and after this call, revealed step by step.

    Returns:
        The HTML text; the same text for the same input.
    """
    where = f" at {call.location}" if call.location is not None else ""
    heading = title or f"{call.api} call #{call.index}{where}"
    code = call.location.code if call.location is not None else None
    views: dict[str, RenderOptions] = {}
    drawings = []
    if svg is not None:
        for drawing, drawn_with in [(svg, options), *others]:
            name = view_name(call, drawn_with)
            if name in views:
                continue
            hidden = " hidden" if views else ""
            views[name] = drawn_with
            drawings.append(f'<div class="drawing" data-view="{name}"{hidden}>{_inline_svg(drawing)}</div>')
        frame = "".join(drawings)
    else:
        frame = f'<p class="note">No drawing: no Graphviz layout engine could be run ({_NO_ENGINE}).</p>'
    toggle = ""
    if len(views) > 1:
        toggle = (
            '<button data-action="expand" title="expand modules one level (e)">expand</button>'
            '<button data-action="collapse" title="collapse modules one level (c)">collapse</button>'
            '<span id="level"></span><span class="keys">e/c or a click: expand/collapse</span>'
        )
    failure = ""
    if call.error is not None:
        heading += " (failed)"
        failure = (
            f'<p class="failed" id="failure"><b>This call failed</b> {_esc(where_it_stopped(call))}:<br>'
            f"<code>{_esc(error_text(call.error, limit=None))}</code></p>"
        )
    data = page_data(call, views, sources=sources)
    panel = ledger_panel(call, ledger)
    if panel:
        toggle += '<a href="#ledger" title="the ledger: .grad, zeroings, updates, loss">ledger</a>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gradviz: {_esc(heading)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_esc(heading)}</h1>",
        f"<p><code>{_esc(code)}</code></p>" if code else "",
        "".join(f'<p class="v">{_esc(_root_line(root, call.api))}</p>' for root in call.graph.roots),
        failure,
        "</header>",
        _TOOLBAR.format(total=len(call.steps), toggle=toggle),
        f'<div class="view"><div id="viewport">{frame}</div>',
        f'<div class="side"><div id="panel"></div>{_source(source_excerpt(call, sources))}</div></div>',
        "<section><h2>Backward steps, in the order autograd ran them</h2>",
        _steps_table(call),
        _leaves_table(call),
        _whole_call(call),
        "</section>",
        panel,
        f'<script type="application/json" id="steps-data">{_script_json(data)}</script>',
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
