"""What a student sees of a trace in each view, as plain text, for the concept tests.

The SVG (its ``<text>`` lines, per drawn node or edge), the TUI (the step pane, the graph pane's boxes
and the ledger screen, driven through Textual's Pilot at 80x24) and the stderr summary. Each test
traces an example or the tutorial snippet itself, then compares these texts with what PyTorch gives.
"""

from __future__ import annotations

import contextlib
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from gradviz.capture.script import run_script
from gradviz.capture.session import Tracer
from gradviz.model import BackwardCall, Trace, Value
from gradviz.render.style import format_value
from gradviz.render.summary import summarize
from gradviz.render.svg import to_svg
from gradviz.tui.app import GradvizApp
from gradviz.tui.ledger import LedgerScreen
from gradviz.tui.screens import TraceScreen
from gradviz.tui.widgets.graph_view import GraphView
from gradviz.tui.widgets.step_panel import StepPanel, to_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: The smallest terminal the TUI is meant for.
TUI_SIZE = (80, 24)
_SVG = "{http://www.w3.org/2000/svg}"


def run_example(name: str, *, max_backward: int | None = None) -> Trace:
    """Run ``examples/<name>`` under a Tracer, as ``gradviz trace`` would.

    Args:
        name: The example's file name.
        max_backward: Calls captured step by step (None: all).

    Returns:
        The trace (the script's own output is swallowed).
    """
    return run_script_file(EXAMPLES / name, max_backward=max_backward)


def run_source(folder: Path, source: str, *, max_backward: int | None = None) -> Trace:
    """Write `source` to ``folder/snippet.py`` and trace it, so that its line numbers are known."""
    path = folder / "snippet.py"
    path.write_text(source)
    return run_script_file(path, max_backward=max_backward)


def run_script_file(path: Path, *, max_backward: int | None = None) -> Trace:
    """Trace a script file in this process, locations relative to its folder."""
    name = path.name
    tracer = Tracer(max_backward=max_backward, script=name, source_root=str(path.parent))
    tracer.__enter__()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            status = run_script(str(path), [], tracer)
    finally:
        tracer.__exit__(None, None, None)
    assert status == 0, f"{name} exited with {status}"
    return tracer.result()


def flat(text: str) -> str:
    """Text with its wrapping undone: white space runs as one space, no padding inside brackets."""
    joined = re.sub(r"\[ +", "[", " ".join(text.replace("\xa0", " ").split()))
    return re.sub(r"(?<=[a-z])- (?=[A-Za-z])", "-", joined)  # a line broken after a hyphen


def shown(tensor: object) -> str:
    """How every view writes a tensor's values (the same summary capture makes, then formatted)."""
    from gradviz.capture.summary import summarize as summarize_tensor

    return "None" if tensor is None else format_value(summarize_tensor(tensor))


def value_text(value: Value | None) -> str:
    """How every view writes a captured value."""
    return format_value(value)


@dataclass(frozen=True)
class Svg:
    """The text of an SVG drawing, per drawn element.

    Attributes:
        elements: ``<title>`` of each node, edge or cluster (``n0``, ``n0->n1``, ``o0``, ``r0``) -> its
            text lines, top to bottom.
    """

    elements: dict[str, list[str]]

    def node(self, graph_id: int) -> list[str]:
        """The lines drawn in graph node `graph_id`."""
        return self.elements[f"n{graph_id}"]

    def text(self) -> str:
        """Every line of the drawing, one per line."""
        return "\n".join(line for lines in self.elements.values() for line in lines)


def svg_of(call: BackwardCall, *, step: int | None = None) -> Svg:
    """Lay a captured call out as ``gradviz trace`` does and read back the text it draws."""
    root = ET.fromstring(to_svg(call, step=step))
    elements: dict[str, list[str]] = {}
    for group in root.iter(f"{_SVG}g"):
        title = group.find(f"{_SVG}title")
        if title is None or title.text is None or group.get("class") == "graph":
            continue
        lines = ["".join(text.itertext()) for text in group.iter(f"{_SVG}text")]
        elements[title.text.replace("&#45;&gt;", "->")] = lines
    header = root.find(f"{_SVG}g")
    if header is not None:
        elements["title"] = ["".join(text.itertext()) for text in header.findall(f"{_SVG}text")]
    return Svg(elements)


def summary_of(trace: Trace) -> str:
    """The stderr summary ``gradviz trace`` prints for a trace (without the files line)."""
    return summarize(trace, [], None)


@dataclass(frozen=True)
class TuiView:
    """What the TUI showed at one step.

    Attributes:
        panel: The step pane's lines, as wrapped for its width.
        boxes: The text inside each box of the graph pane (nodes and no_grad/detach ghosts).
        status: The status line under the graph.
    """

    panel: str
    boxes: list[str]
    status: str


async def tui_at(trace: Trace, *, call: int, steps: list[int]) -> list[TuiView]:
    """Open the TUI at 80x24 on a captured call and press ``n`` up to each of `steps`.

    Args:
        trace: The trace to open.
        call: The call's 1-based index.
        steps: Steps to stop at, ascending (0: before backward runs).

    Returns:
        What the panes showed at each step.
    """
    app = GradvizApp(trace, call=call, engine=False)
    views = []
    async with app.run_test(size=TUI_SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, TraceScreen)
        for step in steps:
            while screen.step < step:
                await pilot.press("n")
            await pilot.pause()
            views.append(_view(screen))
    return views


def _view(screen: TraceScreen) -> TuiView:
    panel = screen.query_one(StepPanel)
    assert panel.view is not None
    lines = to_lines(panel.view, panel.size.width)
    graph = screen.query_one(GraphView)
    layout = graph.layout_result
    boxes = [" | ".join(box.lines) for box in layout.boxes] if layout is not None else []
    status = str(screen.sub_title)
    return TuiView("\n".join(line.plain for line in lines), boxes, status)


async def tui_ledger(trace: Trace) -> str:
    """Open the TUI at 80x24, press ``l`` and return the ledger screen's text."""
    app = GradvizApp(trace, engine=False)
    async with app.run_test(size=TUI_SIZE) as pilot:
        await pilot.press("l")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LedgerScreen)
        return screen.text
