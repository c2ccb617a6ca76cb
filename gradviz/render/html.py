"""One self-contained HTML page per backward call: the drawing, a step slider, and the v / vJ table.

The page needs no network: the SVGs, styles and the few lines of script are inline. With one SVG per
step (0..n) the slider changes the drawing; with a single SVG (big graphs) it only moves the
highlighted row of the table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from gradviz.model import BackwardCall, Value
from gradviz.render.failure import RAISED_HERE, RECEIVED_NOTHING, error_text, raised_at, where_it_stopped
from gradviz.render.state import step_state
from gradviz.render.style import format_value

#: Graphs up to this many nodes (and steps) get one drawing per step; bigger ones only the final one.
PER_STEP_LIMIT = 60

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #111827; }
h1 { font-size: 1.2em; } code, td.v { font-family: Courier, monospace; font-size: 0.9em; }
.controls { margin: 0.8em 0; } .controls input { width: 24em; vertical-align: middle; }
.frame svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border: 1px solid #d1d5db; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
tr.done { background: #f0fdf4; } tr.current { background: #fee2e2; font-weight: bold; }
.note { color: #6b7280; }
.failed { color: #991b1b; } tr.failed { background: #fee2e2; }
"""

_SCRIPT = """
(function () {
  var slider = document.getElementById("step");
  var frames = document.querySelectorAll(".frame");
  var rows = document.querySelectorAll("tr[data-step]");
  var label = document.getElementById("step-label");
  function show(k) {
    if (frames.length > 1) {
      frames.forEach(function (f, i) { f.hidden = i !== k; });
    }
    rows.forEach(function (r) {
      var s = Number(r.dataset.step);
      r.className = s === k ? "current" : (s < k ? "done" : "");
    });
    label.textContent = k === 0 ? "before backward" : "after step " + k + " of " + slider.max;
  }
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  show(Number(slider.value));
})();
"""


_NO_ENGINE = "pip install graphviz-pure, or install Graphviz"


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
        "<th>vJ out (grad_inputs) &rarr; next_functions</th></tr>"
    ]
    for number, step in enumerate(call.steps, start=1):
        node = graph.nodes[step.node] if 0 <= step.node < len(graph.nodes) else None
        name = f"{node.name} #{step.node}" if node is not None else f"#{step.node}"
        where = str(node.location) if node is not None and node.location is not None else ""
        sent = []
        for slot, grad in enumerate(step.grad_inputs):
            target = targets.get((step.node, slot))
            to = f" &rarr; {_esc(graph.nodes[target].name)} #{target}" if target is not None else ""
            sent.append(f"{_esc(format_value(grad, max_values=16))}{to}")
        if node is not None and node.is_accumulate_grad:
            sent.append("added into .grad")
        rows.append(
            f'<tr data-step="{number}"><td>{number}</td><td>{_esc(name)}</td><td>{_esc(where)}</td>'
            f'<td class="v">{_values(step.grad_outputs)}</td><td class="v">{"<br>".join(sent)}</td></tr>'
        )
    if call.error is not None:
        node = raised_at(call)
        name = f"{node.name} #{node.id}" if node is not None else "(not known)"
        where = str(node.location) if node is not None and node.location is not None else ""
        rows.append(
            f'<tr class="failed"><td>&#x2717;</td><td>{_esc(name)}</td><td>{_esc(where)}</td>'
            f'<td colspan="2">{RAISED_HERE}: {_esc(error_text(call.error, limit=None))}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


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
    return "<h2>Leaves and their .grad</h2><table>" + "".join(rows) + "</table>"


def wants_per_step(call: BackwardCall) -> bool:
    """Whether a call is small enough for one drawing per step in its HTML page.

    Args:
        call: The backward call.

    Returns:
        True when both its node count and its step count are at most `PER_STEP_LIMIT`.
    """
    return len(call.graph.nodes) <= PER_STEP_LIMIT and len(call.steps) <= PER_STEP_LIMIT


def to_html(call: BackwardCall, svgs: Sequence[str], *, title: str | None = None) -> str:
    """A self-contained page for one backward call.

    Args:
        call: The backward call.
        svgs: One SVG per step from 0 to ``len(call.steps)`` (the slider then changes the drawing),
            or a single SVG of the finished call, or none (when no layout engine could run).
        title: Page title; defaults to the call's API, number and line.

    Returns:
        The HTML text; the same text for the same input.
    """
    where = f" at {call.location}" if call.location is not None else ""
    heading = title or f"{call.api} call #{call.index}{where}"
    code = call.location.code if call.location is not None else None
    total = len(call.steps)
    per_step = len(svgs) == total + 1 and total > 0
    if svgs and not per_step:
        svgs = svgs[-1:]
    start = total
    if svgs:
        frames = "".join(
            f'<div class="frame"{" hidden" if per_step and i != start else ""}>{_inline_svg(svg)}</div>'
            for i, svg in enumerate(svgs)
        )
    else:
        frames = f'<p class="note">No drawing: no Graphviz layout engine could be run ({_NO_ENGINE}).</p>'
    note = (
        ""
        if per_step or not svgs
        else '<p class="note">The drawing shows the finished call; the slider moves through the table.</p>'
    )
    failure = ""
    if call.error is not None:
        heading += " (failed)"
        failure = (
            f'<p class="failed"><b>This call failed</b> {_esc(where_it_stopped(call))}:<br>'
            f"<code>{_esc(error_text(call.error, limit=None))}</code></p>"
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>gradviz: {_esc(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(heading)}</h1>",
        f"<p><code>{_esc(code)}</code></p>" if code else "",
        failure,
        '<div class="controls"><label for="step">step</label> ',
        f'<input type="range" id="step" min="0" max="{total}" value="{start}">',
        '<span id="step-label"></span></div>',
        note,
        frames,
        "<h2>Backward steps, in the order autograd ran them</h2>",
        _steps_table(call),
        _leaves_table(call),
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
