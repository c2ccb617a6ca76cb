"""One self-contained HTML page per backward call: one drawing, a step slider, and the v / vJ data.

The page needs no network: the SVG, the styles, the per-step data (JSON) and the few lines of script
are inline. The drawing is the finished call; moving the slider restyles it (nodes not run yet
dashed, the node that ran at that step in red, vJ not sent yet faded) and shows that step's v and vJ
in a side panel. The page grows with nodes plus steps, not with their product.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from gradviz.model import BackwardCall, Value
from gradviz.render.collapse import collapse
from gradviz.render.dot import collapsed_depth
from gradviz.render.failure import RAISED_HERE, RECEIVED_NOTHING, error_text, raised_at, where_it_stopped
from gradviz.render.state import step_state
from gradviz.render.style import DEFAULT_OPTIONS, RenderOptions, format_value

_CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #111827; }
h1 { font-size: 1.2em; } code, td.v { font-family: Courier, monospace; font-size: 0.9em; }
.controls { margin: 0.8em 0; } .controls input { width: 24em; vertical-align: middle; }
.view { display: flex; gap: 1.5em; align-items: flex-start; }
.frame { flex: 1 1 auto; overflow: auto; max-height: 85vh; } .frame svg { max-width: 100%; height: auto; }
#panel { flex: 0 0 22em; font-size: 0.9em; border: 1px solid #d1d5db; padding: 0.6em; }
#panel .v { font-family: Courier, monospace; }
g.pending > polygon, g.pending > path, g.pending > ellipse { stroke-dasharray: 4 3; }
g.pending { opacity: 0.45; } g.waiting { opacity: 0.15; }
g.current > polygon, g.current > path, g.current > ellipse { stroke: #dc2626; stroke-width: 3; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border: 1px solid #d1d5db; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
tr.done { background: #f0fdf4; } tr.current { background: #fee2e2; font-weight: bold; }
.note { color: #6b7280; }
.failed { color: #991b1b; } tr.failed { background: #fee2e2; }
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("steps-data").textContent);
  var slider = document.getElementById("step");
  var rows = document.querySelectorAll("tr[data-step]");
  var label = document.getElementById("step-label");
  var panel = document.getElementById("panel");
  var drawn = {};
  document.querySelectorAll(".frame g.node, .frame g.edge").forEach(function (g) {
    var t = g.querySelector("title");
    if (t) { drawn[t.textContent] = g; }
  });
  function text(tag, content, cls) {
    var e = document.createElement(tag);
    e.textContent = content;
    if (cls) { e.className = cls; }
    return e;
  }
  function show(k) {
    Object.keys(drawn).forEach(function (name) {
      var g = drawn[name], first = data.first[name];
      g.classList.remove("pending", "waiting", "current");
      if (first !== undefined && first > k) {
        g.classList.add(g.classList.contains("edge") ? "waiting" : "pending");
      }
    });
    var here = k > 0 ? data.elements[k - 1] : null;
    if (here && drawn[here]) { drawn[here].classList.add("current"); }
    rows.forEach(function (r) {
      var s = Number(r.dataset.step);
      r.className = s === k ? "current" : (s < k ? "done" : "");
    });
    label.textContent = k === 0 ? "before backward" : "after step " + k + " of " + slider.max;
    panel.replaceChildren();
    if (k === 0) { panel.appendChild(text("p", "Before backward: no node has run.")); return; }
    var cells = rows[k - 1].cells;
    panel.appendChild(text("h3", "step " + k + ": " + cells[1].textContent));
    if (cells[2].textContent) { panel.appendChild(text("p", "created at " + cells[2].textContent)); }
    [["v in (grad_outputs)", cells[3]], ["vJ out (grad_inputs)", cells[4]]].forEach(function (part) {
      panel.appendChild(text("b", part[0]));
      var values = text("p", "", "v");
      values.innerHTML = part[1].innerHTML;
      panel.appendChild(values);
    });
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


def _elements(call: BackwardCall, options: RenderOptions) -> dict[int, str]:
    """The drawn element (its SVG ``<title>``) that stands for each node: itself, or its box."""
    depth = collapsed_depth(call.graph, options)
    if depth is None:
        return {node.id: f"n{node.id}" for node in call.graph.nodes}
    return {node: f"b{box.id}" for box in collapse(call.graph, depth).boxes for node in box.nodes}


def steps_data(call: BackwardCall, options: RenderOptions = DEFAULT_OPTIONS) -> dict[str, object]:
    """The per-step data the page's script reads: what each step ran, and when each element first ran.

    The v and vJ themselves are in the steps table, which the script shows in the side panel.

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
    return {"elements": elements, "first": first}


def _script_json(data: dict[str, object]) -> str:
    """JSON safe inside a <script> element (no ``</`` that could end it)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).replace("</", "<\\/")


def to_html(
    call: BackwardCall,
    svg: str | None,
    *,
    title: str | None = None,
    options: RenderOptions = DEFAULT_OPTIONS,
) -> str:
    """A self-contained page for one backward call.

    Args:
        call: The backward call.
        svg: The drawing of the finished call (made with `options`), or None when no layout engine
            could run.
        title: Page title; defaults to the call's API, number and line.
        options: The options the drawing was made with.

    Returns:
        The HTML text; the same text for the same input.
    """
    where = f" at {call.location}" if call.location is not None else ""
    heading = title or f"{call.api} call #{call.index}{where}"
    code = call.location.code if call.location is not None else None
    total = len(call.steps)
    if svg is not None:
        frame = f'<div class="frame">{_inline_svg(svg)}</div>'
    else:
        frame = f'<p class="note">No drawing: no Graphviz layout engine could be run ({_NO_ENGINE}).</p>'
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
        f'<input type="range" id="step" min="0" max="{total}" value="{total}">',
        '<span id="step-label"></span></div>',
        f'<div class="view">{frame}<div id="panel"></div></div>',
        "<h2>Backward steps, in the order autograd ran them</h2>",
        _steps_table(call),
        _leaves_table(call),
        f'<script type="application/json" id="steps-data">{_script_json(steps_data(call, options))}</script>',
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
