"""Renderers never raise on any well-formed model, and the engine accepts every DOT they write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from gradviz.model import BackwardCall
from gradviz.render.dot import RenderOptions, to_dot
from gradviz.render.html import to_html
from gradviz.render.text import to_text

from .test_json import calls

PURE = Path(sys.executable).parent / "graphviz-pure"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls)
def test_every_step_of_any_call_renders(call: BackwardCall) -> None:
    for step in (None, *range(len(call.steps) + 1)):
        dot = to_dot(call, step=step)
        assert dot.startswith("digraph gradviz {") and dot.rstrip().endswith("}")
        assert to_text(call, step=step).startswith(f"{call.api} call #{call.index}")
    assert to_dot(call, options=RenderOptions(overlays=False, legend=False, values=False, saved=False))
    assert "<!DOCTYPE html>" in to_html(call, None)
    for depth in range(4):
        collapsed = to_dot(call, options=RenderOptions(depth=depth))
        assert collapsed.startswith("digraph gradviz {") and "collapsed view" in collapsed
    assert "<!DOCTYPE html>" in to_html(call, None, options=RenderOptions(depth=1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls)
def test_the_layout_engine_accepts_any_dot_we_write(call: BackwardCall) -> None:
    for options in (RenderOptions(), RenderOptions(depth=1)):
        done = subprocess.run(
            [str(PURE), "-Tplain"],
            input=to_dot(call, options=options).encode(),
            capture_output=True,
            check=False,
        )

        assert done.returncode == 0, done.stderr.decode()
        assert done.stdout.startswith(b"graph ")
