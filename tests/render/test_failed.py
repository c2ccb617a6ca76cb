"""A backward call that raised is drawn as failed everywhere: where it stopped, and what got nothing.

The fixture is the tutorial call raising in PowBackward0 after three steps, the way torch fails when
x was changed in place after the forward: x's AccumulateGrad never ran, so x.grad kept [1, 1].
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gradviz.model import CallError, Trace
from gradviz.render.dot import to_dot
from gradviz.render.html import to_html
from gradviz.render.json import from_json, to_json
from gradviz.render.state import step_state
from gradviz.render.stepview import last_step, step_view
from gradviz.render.summary import summarize
from gradviz.render.svg import to_svg
from gradviz.render.text import to_text

from .conftest import Builders

PURE = Path(sys.executable).parent / "graphviz-pure"


def node_line(dot: str, node: int) -> str:
    return next(line for line in dot.splitlines() if line.strip().startswith(f"n{node} "))


def attrs_before(dot: str, node: int) -> str:
    """The last ``node [...]`` defaults set before the node's line: how it is drawn."""
    lines = dot.splitlines()
    index = lines.index(next(line for line in lines if line.strip().startswith(f"n{node} ")))
    return next(line for line in reversed(lines[:index]) if line.strip().startswith("node ["))


def test_dot_title_says_the_call_failed_and_with_what(build: type[Builders]) -> None:
    dot = to_dot(build.failed_call())

    assert "backward call #2 at train.py:9: out.backward()" in dot
    assert "failed: RuntimeError: one of the variables needed for gradient computation" in dot
    assert to_dot(build.tutorial_call()).count("failed") == 0


def test_dot_marks_the_node_where_it_raised_with_a_red_double_border(build: type[Builders]) -> None:
    dot = to_dot(build.failed_call())

    assert "raised here: RuntimeError" in node_line(dot, 3) and "peripheries=2" in node_line(dot, 3)
    assert 'color="#dc2626"' in attrs_before(dot, 3)
    assert dot.count("peripheries") == 1, "no other node (nor the legend) gets a double border"
    assert "raised here: autograd was running this node" in dot, "the legend explains the mark"


def test_a_leaf_that_received_nothing_is_not_accumulated(build: type[Builders]) -> None:
    # Given x.grad was [1, 1] before the call and the call failed before x's AccumulateGrad ran
    dot = to_dot(build.failed_call())

    leaf = node_line(dot, 4)
    assert "(accumulated)" not in leaf and "grad before" not in leaf
    assert "grad: [1, 1]" in leaf
    assert "received nothing: the call failed before reaching it" in leaf
    assert 'style="rounded,dashed"' in attrs_before(dot, 4)


def test_the_same_leaf_in_a_finished_call_is_accumulated(build: type[Builders]) -> None:
    failed = build.failed_call()
    finished = replace(failed, steps=build.tutorial_call().steps, error=None)

    assert "(accumulated)" in node_line(to_dot(finished), 4)


def test_failure_with_no_node_known_marks_every_unrun_node(build: type[Builders]) -> None:
    # Given a call that raised before the engine ran anything (a non-scalar backward without gradient)
    call = replace(
        build.failed_call(node=None, steps=0),
        error=CallError("RuntimeError", "grad can be implicitly created only for scalar outputs"),
    )

    dot = to_dot(call)

    assert "failed: RuntimeError: grad can be implicitly created only for scalar outputs" in dot
    assert "raised here" not in dot.split("legend [")[0]
    assert all("rounded,dashed" in attrs_before(dot, node) for node in range(5))
    assert "received nothing" in node_line(dot, 4)


def test_steps_before_the_end_do_not_show_the_failure_yet(build: type[Builders]) -> None:
    call = build.failed_call()

    early = to_dot(call, step=1)
    last = to_dot(call, step=3)

    assert "raised here: RuntimeError" not in early and "received nothing" not in early
    assert "raised here: RuntimeError" in node_line(last, 3)
    assert "failed: RuntimeError" in early, "the title always says how the call ended"


@pytest.mark.skipif(not PURE.exists(), reason="graphviz-pure is installed with gradviz")
def test_svg_shows_the_failure_and_the_marked_node(
    build: type[Builders], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADVIZ_DOT", str(PURE))

    svg = to_svg(build.failed_call())

    assert "failed: RuntimeError: one of the variables needed" in svg
    assert "raised here: RuntimeError" in svg
    assert "received nothing: the call failed before reaching it" in svg
    assert "(accumulated)" not in svg


def test_text_tree_marks_the_raising_node_and_the_empty_leaf(build: type[Builders]) -> None:
    text = to_text(build.failed_call(), width=160)

    assert "failed: RuntimeError: one of the variables" in text.splitlines()[0]
    assert "PowBackward0 #3" in next(
        line for line in text.splitlines() if "raised here: RuntimeError" in line
    )
    leaf = next(line for line in text.splitlines() if "AccumulateGrad" in line)
    assert "received nothing" in leaf and "(accumulated)" not in leaf


def test_summary_line_says_failed_and_the_leaf_got_nothing(build: type[Builders]) -> None:
    trace = Trace("2.13.0", "train.py", 2, backwards=(build.failed_call(),))

    lines = summarize(trace, [], None).splitlines()

    assert lines[1].startswith(
        "  #2 backward at train.py:9  out.backward()  (5 nodes, v = 1 = dL/dL)  FAILED: RuntimeError: "
    )
    assert lines[2] == "      x.grad = [1, 1]  (received nothing: the call failed before reaching it)"


def test_html_page_says_where_the_call_failed(build: type[Builders]) -> None:
    page = to_html(build.failed_call(), None)

    assert "<h1>backward call #2 at train.py:9 (failed)</h1>" in page
    assert "This call failed</b> while autograd ran PowBackward0 #3 (y), after 3 steps ran" in page
    assert '<tr class="failed"><td>&#x2717;</td><td>PowBackward0 #3</td>' in page
    assert "received nothing: the call failed before reaching it" in page
    assert "failed" not in to_html(build.tutorial_call(), None).split("</style>")[1]


def test_state_knows_what_got_nothing_only_where_the_call_stopped(build: type[Builders]) -> None:
    call = build.failed_call()
    leaf = call.graph.nodes[4]

    assert step_state(call).received_nothing(leaf) and step_state(call).raised == 3
    assert not step_state(call, 2).received_nothing(leaf) and step_state(call, 2).raised is None
    assert step_state(call).grad_of(leaf) == leaf.tensor.grad_before  # type: ignore[union-attr]


def test_a_failed_call_round_trips_through_trace_json(build: type[Builders]) -> None:
    trace = Trace("2.13.0", "train.py", 2, backwards=(build.failed_call(),))

    text = to_json(trace)

    assert '"error": {"type":"RuntimeError","message":"one of the variables' in text
    assert from_json(text) == trace


def test_step_pane_past_the_last_step_shows_a_failure_before_the_engine(build: type[Builders]) -> None:
    # Given a call that raised before autograd ran any node
    call = build.failed_call(node=None, steps=0)

    view = step_view(call, last_step(call))

    assert last_step(call) == 1
    assert view.title == "The call failed: RuntimeError"
    assert view.subtitle == "before autograd ran any node"
    assert [section.title for section in view.sections] == ["Error", "Leaves that received nothing"]
    assert view.sections[1].lines == ("x.grad stays [1, 1]",)
    with pytest.raises(IndexError):
        step_view(call, 2)
    assert "then it failed with RuntimeError" in step_view(call, 0).sections[-1].lines[0]
