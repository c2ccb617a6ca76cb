"""The short report ``gradviz trace`` prints on stderr once the script has finished."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from gradviz.model import BackwardCall, Trace
from gradviz.render.callcap import bound_note
from gradviz.render.devices import call_lines as device_lines
from gradviz.render.devices import copied_leaf_name
from gradviz.render.failure import RECEIVED_NOTHING, error_text
from gradviz.render.findings import findings_lines, wrapped
from gradviz.render.ledger import loop_summary, zeroing_before, zeroing_text
from gradviz.render.notes import whole_call_lines
from gradviz.render.state import step_state
from gradviz.render.style import format_value

#: Most files named one by one before the rest are counted.
MAX_FILES_NAMED = 6
#: Source lines longer than this are cut.
MAX_CODE = 60
#: Leaves listed per call; a model with hundreds of parameters gets one line for the rest.
MAX_LEAVES = 12
#: The whole call's dy/dx is printed when the script made at most this many captured calls.
MAX_WHOLE_CALLS = 3


def summarize(trace: Trace, written_files: Sequence[Path], out_dir: Path | str | None) -> str:
    """Describe a trace in a few lines: each captured call, its leaves' gradients, the findings.

    Args:
        trace: What was captured.
        written_files: The files written for it, in the order written.
        out_dir: The folder they went to (None when nothing was written).

    Returns:
        Several lines of plain text, ending with a newline.
    """
    lines = [_headline(trace)]
    for call in trace.backwards:
        lines.extend(_call_lines(call))
        if len(trace.backwards) <= MAX_WHOLE_CALLS:
            lines.extend(_whole_call(call))
    lines.extend(_uncaptured_lines(trace))
    loop = loop_summary(trace)
    if loop is not None:
        lines.append(f"  {loop}")
    lines.extend(findings_lines(trace.findings))
    if out_dir is not None and written_files:
        lines.append(_files_line(written_files, out_dir))
    bound = bound_note(trace) if any(path.name == "trace.json" for path in written_files) else None
    if bound is not None:
        lines.append(f"  {bound}")
    return "\n".join(lines) + "\n"


def _headline(trace: Trace) -> str:
    script = trace.script or "the traced code"
    calls = trace.backward_calls
    if calls == 0:
        return f"gradviz: {script} made no backward or grad call"
    captured = [call.index for call in trace.backwards]
    noun = "call" if calls == 1 else "calls"
    if len(captured) == calls:
        return f"gradviz: {script} made {calls} backward/grad {noun}, all captured"
    if not captured:
        return f"gradviz: {script} made {calls} backward/grad {noun}, captured none"
    if captured == list(range(1, len(captured) + 1)):
        return f"gradviz: {script} made {calls} backward/grad {noun}, captured the first {len(captured)}"
    return (
        f"gradviz: {script} made {calls} backward/grad {noun}, captured {len(captured)}: {_spans(captured)}"
    )


def _spans(indices: Sequence[int]) -> str:
    """Call numbers as runs: ``#1, #4-#6``."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ", ".join(f"#{run[0]}" if len(run) == 1 else f"#{run[0]}-#{run[-1]}" for run in runs)


def _short_code(code: str) -> str:
    """A source line without its trailing comment, cut to `MAX_CODE` characters."""
    code = code.split("  #", 1)[0].strip()
    return code if len(code) <= MAX_CODE else code[: MAX_CODE - 3] + "..."


def _call_lines(call: BackwardCall) -> list[str]:
    where = f" at {call.location}" if call.location is not None else ""
    code = ""
    if call.location is not None and call.location.code:
        code = f"  {_short_code(call.location.code)}"
    nodes = len(call.graph.nodes)
    failed = f"  FAILED: {error_text(call.error)}" if call.error is not None else ""
    scalar = any(
        root.gradient is not None and root.gradient.shape == () and root.gradient.values == 1
        for root in call.graph.roots
    )
    counted = f"{nodes} node{'s' if nodes != 1 else ''}" + (", v = 1 = dL/dL" if scalar else "")
    lines = [f"  #{call.index} {call.api}{where}{code}  ({counted}){failed}"]
    lines.extend(f"      {line}" for line in device_lines(call.graph))
    if call.api == "backward":
        lines.extend(_leaf_lines(call))
    lines.extend(_harmless_edits(call))
    for position, result in enumerate(call.results):
        lines.append(f"      {_result_name(call, position)} = {format_value(result)}")
    return lines


def _whole_call(call: BackwardCall) -> list[str]:
    """For a small non-scalar backward, dy/dx, v and v J (a scalar's J is its gradient, already printed)."""
    return [f"      {line}" for line in whole_call_lines(call, non_scalar_only=True)]


def _leaf_lines(call: BackwardCall) -> list[str]:
    lines = []
    leaves = call.graph.leaves
    state = step_state(call)
    for leaf in leaves[:MAX_LEAVES]:
        info = leaf.tensor
        if info is None:
            continue
        copied = copied_leaf_name(call.graph, leaf)
        name = info.label or (f"({copied})" if copied else f"leaf {list(info.shape)}")
        after = format_value(info.grad_after)
        if state.received_nothing(leaf):
            lines.append(f"      {name}.grad = {format_value(info.grad_before)}  ({RECEIVED_NOTHING})")
        elif (zeroed := zeroing_before(call.ledger, info.label)) is not None:
            was = format_value(info.grad_before)
            lines.append(f"      {name}.grad = {after}  ({zeroing_text(zeroed)}: was {was} before this call)")
        elif info.grad_before is None:
            lines.append(f"      {name}.grad = {after}")
        else:
            lines.append(
                f"      {name}.grad = {after}  (was {format_value(info.grad_before)}: backward added into it)"
            )
    if len(leaves) > MAX_LEAVES:
        lines.append(f"      ... and {len(leaves) - MAX_LEAVES} more leaves (all in trace.json and the SVG)")
    return lines + _retained_lines(call)


def _harmless_edits(call: BackwardCall) -> list[str]:
    """A .data edit that backward never read (``y = 2 * x`` saved only the 2): a note, not a warning."""
    lines = []
    for overlay in call.graph.overlays:
        if overlay.kind == "data_edit" and overlay.severity == "note":
            where = f" at line {overlay.location.line}" if overlay.location is not None else ""
            lines.append(
                f"      {overlay.label or 'a tensor'}.data edited{where}: harmless, backward reads no saved "
                "copy of it (gradient unchanged)"
            )
    return lines


def _retained_lines(call: BackwardCall) -> list[str]:
    """Non-leaves with retain_grad(): their .grad is the v their node received."""
    state = step_state(call)
    lines = []
    for node in call.graph.nodes:
        info = node.tensor
        if node.is_accumulate_grad or info is None or not info.retains_grad or info.label is None:
            continue
        grad = format_value(state.grad_of(node))
        lines.append(f"      {info.label}.grad = {grad}  (not a leaf: kept by {info.label}.retain_grad())")
    return lines[:MAX_LEAVES]


def _result_name(call: BackwardCall, position: int) -> str:
    """``grad[i] (d/dx)``: which input a ``torch.autograd.grad`` result belongs to."""
    label = None
    if position < len(call.inputs) and 0 <= call.inputs[position] < len(call.graph.nodes):
        info = call.graph.node(call.inputs[position]).tensor
        label = info.label if info is not None else None
    return f"grad[{position}]" + (f" (d/d{label})" if label else "")


def _uncaptured_lines(trace: Trace) -> list[str]:
    captured = [call.index for call in trace.backwards]
    skipped = [index for index in range(1, trace.backward_calls + 1) if index not in set(captured)]
    if not skipped:
        return []
    last = max(captured, default=0)
    problems = [finding for finding in trace.findings if finding.kind == "capture_problem"]
    # a capture problem names the call it could not capture; one that switched capture off says so
    failed = {int(n) for p in problems for n in _COULD_NOT.findall(p.message)} & set(skipped)
    # The budget counts captured calls, so a call skipped before a captured one was not over budget.
    nested = set(trace.nested_calls)
    inside = [index for index in skipped if (index < last or index in nested) and index not in failed]
    after = [index for index in skipped if index > last and index not in failed and index not in nested]
    reasons = []
    if failed:
        reasons.append(
            f"  {_spans(sorted(failed))}: counted, could not be captured (a capture problem, below; "
            f"--max-backward does not change it)"
        )
    if inside:
        why = "a capture problem (below) or " if problems else ""
        reasons.append(f"  {_spans(inside)}: counted, not captured ({why}a backward inside another backward)")
    if after and any(_SWITCHED_OFF in problem.message for problem in problems):
        reasons.append(
            f"  {_spans(after)}: counted, not captured (the capture problem below switched capture off; "
            f"--max-backward does not change it)"
        )
    elif after:
        raise_it = "raise --max-backward to record them step by step"
        reasons.append(f"  {_spans(after)}: counted, not captured ({raise_it})")
    lines = [line for reason in reasons for line in wrapped(reason.strip(), "  ", "    ")]
    for leaf in trace.uncaptured[:MAX_LEAVES]:
        name = leaf.label or "a leaf"
        now = format_value(leaf.grad_after)
        lines.append(f"      {name}.grad changed in {leaf.calls} of them, now {now}")
    if len(trace.uncaptured) > MAX_LEAVES:
        lines.append(f"      ... and {len(trace.uncaptured) - MAX_LEAVES} more leaves (all in trace.json)")
    if after:
        lines.extend(wrapped(_STILL_WATCHED, "  ", "    "))
    return lines


_COULD_NOT = re.compile(r"backward call (\d+) could not be captured")
#: What a capture problem says when it switched capture off (capture/callcapture.py).
_SWITCHED_OFF = "later calls are counted, not captured"
_STILL_WATCHED = (
    "past the budget, no_grad, detach, .data edits and accumulation are still noted; .data edits of saved "
    "tensors are not checked (--max-backward all checks every call)"
)


def _files_line(written_files: Sequence[Path], out_dir: Path | str) -> str:
    names = [Path(path).name for path in written_files]
    shown = ", ".join(names[:MAX_FILES_NAMED])
    if len(names) > MAX_FILES_NAMED:
        shown += f" and {len(names) - MAX_FILES_NAMED} more"
    folder = os.fspath(out_dir).rstrip(os.sep) + os.sep
    return f"gradviz: wrote {folder}: {shown}"
