"""Findings as the terminal summary prints them: warnings in full, notes in one short line, capture
problems last; all wrapped to the terminal's width at word boundaries."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Sequence

from gradviz.model import Finding

#: Findings are wrapped to the terminal's width (COLUMNS), or this one when it is unknown.
WIDTH = 100
#: Narrower terminals still get this many columns.
MIN_WIDTH = 40
#: Notes listed one line each; more are counted by kind in one line.
MAX_NOTES = 5


_FINDING_TITLES = {
    "no_grad": "no_grad",
    "detach": "detach",
    "data_edit": ".data edit",
    "accumulation": "accumulation",
    "autograd_error": "autograd error",
    "capture_problem": "capture problem",
    "non_leaf_grad": ".grad of a non-leaf",
    "retain_graph": "retain_graph",
    "moved_leaf": ".to() and leaves",
}
_NOTE_NOUNS = {
    "no_grad": ("no_grad block", "no_grad blocks"),
    "detach": ("detach", "detaches"),
    "accumulation": ("gradient accumulation", "gradient accumulations"),
    "data_edit": (".data edit", ".data edits"),
    "retain_graph": ("second backward without retain_graph", "second backwards without retain_graph"),
    "moved_leaf": ("moved copy of a leaf", "moved copies of leaves"),
}


def width() -> int:
    """The terminal's width (COLUMNS first), at least `MIN_WIDTH`; `WIDTH` when it is unknown.

    Returns:
        Columns to wrap to.
    """
    return max(MIN_WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)


def wrapped(text: str, first: str, rest: str) -> list[str]:
    """Wrap at word boundaries to the terminal's width, never cutting a word.

    Args:
        text: One paragraph.
        first: The first line's indent.
        rest: The other lines' indent.

    Returns:
        The lines.
    """
    return textwrap.wrap(
        text,
        width=width(),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def findings_lines(findings: Sequence[Finding]) -> list[str]:
    """Warnings first, in full; then notes, one short line each or counted; then capture problems.

    Args:
        findings: The trace's findings.

    Returns:
        The lines.
    """
    problems = [finding for finding in findings if finding.kind == "capture_problem"]
    warnings = [f for f in findings if f.severity == "warning" and f.kind != "capture_problem"]
    notes = [f for f in findings if f.severity == "note" and f.kind != "capture_problem"]
    lines = [line for finding in warnings for line in _finding_lines(finding)]
    if len(notes) <= MAX_NOTES:
        lines.extend(line for note in notes for line in _note_lines(note))
    elif notes:
        lines.extend(wrapped(_notes_counted(notes), "  ", "    "))
    lines.extend(line for problem in problems for line in _problem_lines(problem))
    return lines


def _note_lines(note: Finding) -> list[str]:
    """``- note, no_grad (eval.py:40): shifted was computed under torch.no_grad() (1 op, not recorded)``."""
    title = _FINDING_TITLES.get(note.kind, note.kind)
    where = f" ({note.location})" if note.location is not None else ""
    return wrapped(f"- note, {title}{where}: {short_note(note)}", "  ", "    ")


_SUMMED_INTO = re.compile(r"added into (.+?), which already held")


def short_note(note: Finding) -> str:
    """What a note says, in one short clause built from its fields; the full message is in trace.json.

    Args:
        note: A finding of severity "note".

    Returns:
        The clause, naming the tensor where known.
    """
    if note.kind == "no_grad":
        mode = "torch.inference_mode()" if "inference_mode" in note.message else "torch.no_grad()"
        ops = "1 op" if note.count == 1 else f"{note.count} ops"
        if note.label and note.count == 1:
            return f"{note.label} was computed under {mode} ({ops}, not recorded)"
        first = f" (the first made `{note.label}`)" if note.label else ""
        return f"{ops} ran under {mode} unrecorded{first}"
    if note.kind == "detach":
        times = f" ({note.count} times)" if note.count > 1 else ""
        if note.label and "detach" in note.label:  # the label is the expression itself
            did = "gives a result" if note.count == 1 else f"ran {note.count} times, giving results"
            return f"`{note.label}` {did} cut from the graph: no gradient flows back"
        return f"{note.label or 'a result'} was detached{times}: no gradient flows back through it"
    if note.kind == "accumulation":
        into = _SUMMED_INTO.search(note.message)
        grads = into.group(1) if into else "a .grad"
        first = f"backward call {note.call}" if note.call is not None else "a backward call"
        more = f" ({note.count} calls did so)" if note.count > 1 else ""
        return f"{first} added into {grads} with no update in between: the gradients are summed{more}"
    if note.kind == "retain_graph":
        again = f"backward call {note.call}" if note.call is not None else "a backward call"
        return (
            f"{again} reran a graph without retain_graph=True; it works because its nodes saved no "
            "tensors, so nothing was freed"
        )
    if note.kind == "data_edit" and note.label:
        return f"{note.label} was changed through .data, which autograd does not record"
    return _first_sentence(note)


def _first_sentence(finding: Finding) -> str:
    text = " ".join(finding.message.split())
    if finding.location is not None:
        text = text.replace(f" at {finding.location}", "", 1)  # already in front
    end = re.search(r"[.:](\s|$)", text)
    return text[: end.start()] if end else text


def _notes_counted(notes: Sequence[Finding]) -> str:
    """``- 9 notes: 3 no_grad blocks, 2 detach, ...``: what autograd did as the code asked, counted."""
    counts: dict[str, int] = {}
    for note in notes:
        counts[note.kind] = counts.get(note.kind, 0) + 1
    parts = [f"{count} {_NOTE_NOUNS.get(kind, (kind, kind))[count > 1]}" for kind, count in counts.items()]
    return f"- {len(notes)} notes: {', '.join(parts)} (autograd did what the code says; all in trace.json)"


def _finding_lines(finding: Finding) -> list[str]:
    title = _FINDING_TITLES.get(finding.kind, finding.kind)
    where = f" ({finding.location})" if finding.location is not None else ""
    return wrapped(f"! {title}{where}: {' '.join(finding.message.split())}", "  ", "    ")


def _problem_lines(problem: Finding) -> list[str]:
    """A fault in gradviz's own capture, not in the user's code: ``- gradviz: capture problem ...``."""
    where = f" ({problem.location})" if problem.location is not None else ""
    text = " ".join(problem.message.split())
    return wrapped(f"- gradviz: capture problem{where}: {text}", "  ", "    ")
