"""SVG snapshots of the whole screen at 80x24, the default terminal (update with --snapshot-update)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gradviz.tui.app import GradvizApp

from .builders import SCRIPT, failed_trace, module_trace, tutorial_trace

SIZE = (80, 24)
#: The tutorial script as `tutorial_trace` records its lines (3: y = x ** 2 ... 7: out.backward()).
TUTORIAL = (
    '"""The tutorial chain."""\n'
    "x = torch.ones(2, 2, requires_grad=True)\n"
    "y = x**2\n"
    "z = 3 * y * y\n"
    "out = z.mean()\n"
    "c = y.detach()\n"
    "out.backward()\n"
)


def test_start_before_backward_runs(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), terminal_size=SIZE)


def test_mul_step_with_jacobians(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), press=["n", "n"], terminal_size=SIZE)


def test_leaf_step_with_grad_equation(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), press=["end"], terminal_size=SIZE)


def test_source_pane_on_the_running_line(snap_compare: Any, tmp_path: Path) -> None:
    (tmp_path / SCRIPT).write_text(TUTORIAL)
    app = GradvizApp(tutorial_trace(), source_root=tmp_path)
    assert snap_compare(app, press=["n", "n", "n", "t"], terminal_size=SIZE)


def test_failed_call_at_the_failure(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(failed_trace(), call=2), press=["end"], terminal_size=SIZE)


def test_module_boxes_of_a_big_graph(snap_compare: Any) -> None:
    app = GradvizApp(module_trace(1000))
    assert snap_compare(app, press=["n", "n", "n", "n"], terminal_size=SIZE)


def test_help_fits(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), press=["question_mark"], terminal_size=SIZE)
