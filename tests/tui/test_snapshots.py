"""SVG snapshots of the whole screen at a fixed terminal size (update with --snapshot-update)."""

from __future__ import annotations

from typing import Any

from gradviz.tui.app import GradvizApp

from .builders import tutorial_trace

SIZE = (120, 40)


def test_start_before_backward_runs(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), terminal_size=SIZE)


def test_mul_step_with_jacobians(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), press=["n", "n"], terminal_size=SIZE)


def test_leaf_step_with_grad_equation(snap_compare: Any) -> None:
    assert snap_compare(GradvizApp(tutorial_trace()), press=["end"], terminal_size=SIZE)
