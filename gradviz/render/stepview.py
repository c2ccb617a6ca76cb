"""What one backward step did, as plain text blocks: v in, the local Jacobian J, vJ out.

Pure functions of the model, used by the TUI's step pane (and usable by any text renderer).
``step=k`` means the state after k steps ran, as everywhere in gradviz: the step shown is
``steps[k - 1]``, the node that has just run.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from gradviz.model import BackwardCall, Value
from gradviz.render.devices import copied_leaf_name
from gradviz.render.devices import node_notes as device_notes
from gradviz.render.failure import RECEIVED_NOTHING, error_text, raised_at, where_it_stopped
from gradviz.render.nodeinfo import describe_node, find_node, saved_lines, slot_targets
from gradviz.render.notes import (
    NO_V_GIVEN,
    non_leaf_grad_text,
    overlay_note_lines,
    retained_grad_text,
    whole_call_lines,
)
from gradviz.render.retain import retain_lines
from gradviz.render.state import step_state
from gradviz.render.stepnotes import step_notes
from gradviz.render.tensortext import join_blocks, matrix_lines, value_lines

__all__ = [
    "MAX_EQUATION_WIDTH",
    "Section",
    "StepView",
    "describe_node",
    "find_node",
    "last_step",
    "leaf_equation",
    "saved_lines",
    "slot_targets",
    "step_view",
]

#: Widest side-by-side "before + contribution = after" line before it is stacked instead.
MAX_EQUATION_WIDTH = 72


@dataclass(frozen=True, slots=True)
class Section:
    """A titled block of text lines.

    Attributes:
        title: The heading, e.g. ``"Incoming gradient v"``.
        lines: The body, already laid out.
        kind: What the block shows, for styling: ``"v"``, ``"jacobian"``, ``"vj"``, ``"leaf"``, ``"note"``,
            ``"failed"``.
    """

    title: str
    lines: tuple[str, ...]
    kind: str = "note"


@dataclass(frozen=True, slots=True)
class StepView:
    """The step pane's content for one step.

    Attributes:
        title: One line naming the step and its node.
        subtitle: Where the node was created (or where backward was called, at step 0).
        sections: The blocks below the title.
        node: Id of the node shown, None at step 0.
    """

    title: str
    subtitle: str | None
    sections: tuple[Section, ...]
    node: int | None = None


def leaf_equation(
    before: Value | None,
    contribution: Value | None,
    after: Value | None,
    *,
    show_values: bool = True,
    width: int = MAX_EQUATION_WIDTH,
) -> list[str]:
    """``grad before + this contribution = grad after`` for a leaf, laid out as text.

    Args:
        before: The leaf's ``.grad`` when the call started (None: it had none).
        contribution: The gradient AccumulateGrad received in this call.
        after: The leaf's ``.grad`` when the call ended.
        show_values: False to show shapes only.
        width: Widest line allowed for the side-by-side form.

    Returns:
        The three terms side by side when they fit in `width`, else one under the other.
    """
    terms = [value_lines(value, show_values=show_values) for value in (before, contribution, after)]
    side = join_blocks(terms, ["  +  ", "  =  "])
    if max(len(line) for line in side) <= width:
        return side
    return ["grad before:", *terms[0], "+ this contribution:", *terms[1], "= grad after:", *terms[2]]


def _start_view(call: BackwardCall, show_values: bool) -> StepView:
    sections = []
    for root in call.graph.roots:
        node = call.graph.node(root.node)
        lines = value_lines(root.gradient, show_values=show_values)
        if root.gradient is not None and root.gradient.shape == () and root.gradient.values == 1:
            lines = ["1 = dL/dL (a scalar backward starts from 1)"]
        elif root.gradient is None:
            lines = [NO_V_GIVEN.removeprefix("v: ")]
        sections.append(Section(f"backward starts at {describe_node(node)} with v =", tuple(lines), "v"))
    steps = f"{len(call.steps)} step{'' if len(call.steps) == 1 else 's'}"
    if call.error is None:
        sections.append(Section("Next", (f"{steps}; press n to run the first one.",)))
    else:
        ran = f"{steps} ran, then it failed"
        sections.append(Section("Next", (f"{ran} with {call.error.type}; press n to run the first one.",)))
    where = str(call.location) if call.location is not None else None
    code = call.location.code if call.location is not None else None
    subtitle = f"called at {where}  {code or ''}".rstrip() if where else None
    return StepView(f"Step 0 of {len(call.steps)}: before {call.api}() runs", subtitle, tuple(sections))


def last_step(call: BackwardCall) -> int:
    """The last step the step pane can show: one past the recorded steps when the call failed.

    Args:
        call: The captured backward call.

    Returns:
        ``len(call.steps)``, plus one for the failure of a call that raised.
    """
    return len(call.steps) + (1 if call.error is not None else 0)


def _failure_view(call: BackwardCall, show_values: bool, width: int) -> StepView:
    assert call.error is not None
    message = error_text(call.error, limit=None)
    sections = [Section("Error", tuple(textwrap.wrap(message, max(width, 20))), "failed")]
    node = raised_at(call)
    if node is not None:
        lines = [describe_node(node)]
        if node.location is not None:
            lines.append(f"created at {node.location}  {node.location.code or ''}".rstrip())
        sections.append(Section("Raised in", tuple(lines), "failed"))
        freed = retain_lines(node, call, False)
        if node.freed_by is not None and freed:
            sections.append(Section("retain_graph", (" ".join(freed),), "failed"))
    state = step_state(call)
    empty: list[str] = []
    for leaf in call.graph.leaves:
        if state.received_nothing(leaf) and leaf.tensor is not None:
            head = f"{leaf.tensor.label or f'leaf #{leaf.id}'}.grad stays "
            before = value_lines(leaf.tensor.grad_before, show_values=show_values)
            empty.append(head + before[0])
            empty.extend(" " * len(head) + line for line in before[1:])
    if empty:
        sections.append(Section(f"Leaves that {RECEIVED_NOTHING.split(':')[0]}", tuple(empty), "leaf"))
    title = f"The call failed: {call.error.type}"
    return StepView(title, where_it_stopped(call), tuple(sections), node.id if node is not None else None)


def step_view(
    call: BackwardCall, step: int, *, show_values: bool = True, width: int = MAX_EQUATION_WIDTH
) -> StepView:
    """The step pane's content after `step` steps of a backward call ran.

    Args:
        call: The captured backward call.
        step: How many steps ran (0 .. `last_step`); the node shown is ``steps[step - 1]``, and the
            step after the last recorded one of a failed call shows the failure.
        show_values: False to show shapes only.
        width: Widest line wanted (the leaf equation is stacked when side by side is wider).

    Returns:
        The title, where the node was created, and the v / J / vJ (or leaf .grad) sections.

    Raises:
        IndexError: `step` is outside 0 .. `last_step`.
    """
    if not 0 <= step <= last_step(call):
        raise IndexError(f"step {step} is outside 0..{last_step(call)}")
    if step == 0:
        return _start_view(call, show_values)
    if step > len(call.steps):
        return _failure_view(call, show_values, width)
    record = call.steps[step - 1]
    graph = call.graph
    node = graph.node(record.node)
    title = f"Step {step} of {len(call.steps)}: {describe_node(node)}"
    subtitle = None
    if node.location is not None:
        subtitle = f"created at {node.location}  {node.location.code or ''}".rstrip()
    sections = []
    for index, value in enumerate(record.grad_outputs):
        heading = "Incoming gradient v" + (f" (output {index})" if len(record.grad_outputs) > 1 else "")
        sections.append(Section(heading, tuple(value_lines(value, show_values=show_values)), "v"))
    grad_line = non_leaf_grad_text(node) or retained_grad_text(
        node, step_state(call, step).grad_of(node), values=show_values
    )
    if grad_line is not None:
        sections.append(Section("Its tensor", (grad_line,), "note"))
    device = device_notes(graph, node)
    if device:
        sections.append(Section("Device and dtype", tuple(device), "note"))
    if node.saved or node.attributes:
        saved = (*saved_lines(node, show_values), *(f"{name}: {text}" for name, text in node.attributes))
        sections.append(Section("Saved for backward", saved, "note"))
    sections.extend(Section(heading, lines, "note") for heading, lines in step_notes(call, node, record))
    unrecorded = overlay_note_lines(graph, node.id)
    if unrecorded:
        sections.append(Section("Not recorded by autograd", tuple(unrecorded), "note"))
    tensor = node.tensor
    if node.is_accumulate_grad:
        copied = copied_leaf_name(graph, node)
        name = (tensor.label if tensor is not None else None) or (f"({copied})" if copied else "leaf")
        contribution = record.grad_outputs[0] if record.grad_outputs else None
        before = tensor.grad_before if tensor is not None else None
        after = tensor.grad_after if tensor is not None else None
        lines = leaf_equation(before, contribution, after, show_values=show_values, width=width)
        sections.append(Section(f"{name}.grad: before + contribution = after", tuple(lines), "leaf"))
        ending = (*_before_failure(call, step), *_whole(call, step, show_values, width))
        return StepView(title, subtitle, (*sections, *ending), node.id)
    targets = slot_targets(graph, node.id)
    if not any(jacobian is not None for jacobian in record.jacobians):
        note = "not recorded for this node: J is only computed for small tensors"
        sections.append(Section("Local Jacobian J", (note,), "jacobian"))
    for slot, jacobian in enumerate(record.jacobians):
        if jacobian is None:
            continue
        target = targets.get(slot)
        where = describe_node(graph.node(target)) if target is not None else "nothing"
        heading = f"Local Jacobian J, input {slot} → {where}"
        sections.append(Section(heading, tuple(matrix_lines(jacobian)), "jacobian"))
    vj_lines: list[str] = []
    for slot, value in enumerate(record.grad_inputs):
        target = targets.get(slot)
        if target is None or value is None:
            vj_lines.append(f"[{slot}] → nothing: this input needs no gradient")
            continue
        body = value_lines(value, show_values=show_values)
        head = f"[{slot}] → {describe_node(graph.node(target))}: "
        vj_lines.append(head + body[0])
        vj_lines.extend(" " * len(head) + line for line in body[1:])
    if vj_lines:
        sections.append(Section("vJ sent to each input (v @ J)", tuple(vj_lines), "vj"))
    if node.freed_by is None and (kept := retain_lines(node, call, True)):
        sections.append(Section("retain_graph", tuple(kept), "note"))  # what became of its saved tensors
    ending = (*_before_failure(call, step), *_whole(call, step, show_values, width))
    return StepView(title, subtitle, (*sections, *ending), node.id)


def _whole(call: BackwardCall, step: int, show_values: bool, width: int) -> tuple[Section, ...]:
    """At the last step of a small call, the whole call as one vector-Jacobian product."""
    if step != len(call.steps) or not show_values:
        return ()
    # A scalar's J row is the leaf's .grad, shown above.
    lines = whole_call_lines(call, non_scalar_only=True, width=width)
    return (Section(lines[0], tuple(lines[1:]), "jacobian"),) if lines else ()


def _before_failure(call: BackwardCall, step: int) -> tuple[Section, ...]:
    """At the last recorded step of a failed call, say that the failure comes next."""
    if call.error is None or step != len(call.steps):
        return ()
    return (
        Section("Next", (f"the call failed after this step with {call.error.type}; press n to see where.",)),
    )
