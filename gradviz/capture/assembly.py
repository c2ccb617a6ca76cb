"""The Tracer's findings and result: what was recorded, put together in reading order as a `Trace`."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gradviz.capture.cuts import CutLedger
from gradviz.capture.door import Door
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.ledgercalls import with_ledger
from gradviz.capture.movedleaf import pitfall_findings
from gradviz.capture.severity import Judge, with_overlay_severity
from gradviz.model import BackwardCall, Event, Finding, Location, Trace


def gather_findings(
    found: list[Finding],
    *,
    events: tuple[Event, ...],
    backwards: tuple[BackwardCall, ...],
    refused: Sequence[Location | None],
    judge: Judge,
    door: Door,
) -> tuple[Finding, ...]:
    """Warnings, explained errors and capture problems, judged and sorted in the order of their lines.

    Args:
        found: The findings of the session, its call capture and its timeline.
        events: The forward timeline.
        backwards: The captured calls.
        refused: Where an optimizer refused a non-leaf tensor.
        judge: The session's judge of severity.
        door: The session's door, whose capture problems come last before sorting.

    Returns:
        The findings, by file and line, those without a line last.
    """
    found = pitfall_findings(found, events, refused)
    judged = [
        *judge.findings(found, backwards, events),
        *door.findings,
    ]
    return tuple(sorted(judged, key=_reading_order))


def build_trace(
    *,
    script: str | None,
    backward_calls: int,
    events: tuple[Event, ...],
    backwards: tuple[BackwardCall, ...],
    findings: tuple[Finding, ...],
    cuts: CutLedger | None,
    book: LedgerBook,
    leaves: LeafLedger,
    events_dropped: int,
    nested_calls: tuple[int, ...] = (),
) -> Trace:
    """Everything recorded, as a frozen `Trace`.

    Args:
        script: The script traced, for the header.
        backward_calls: How many backward/grad calls ran, captured or not.
        events: The forward timeline.
        backwards: The captured calls.
        findings: The findings, as `gather_findings` gives them.
        cuts: The timeline's record of cut edges, when the timeline was recorded.
        book: The ledger of every step.
        leaves: The leaves followed past the budget.
        events_dropped: Timeline events left out for room.
        nested_calls: The calls made while another backward ran.

    Returns:
        The trace.
    """
    ledger = book.entries()
    return Trace(
        torch_version=torch.__version__,
        script=script,
        backward_calls=backward_calls,
        events=events,
        backwards=with_ledger(with_overlay_severity(backwards, findings, events, cuts), ledger),
        findings=findings,
        uncaptured=leaves.summaries(),
        events_dropped=events_dropped,
        ledger=ledger,
        nested_calls=nested_calls,
    )


def _reading_order(finding: Finding) -> tuple[bool, str, int]:
    """Findings by file and line, those without a line last (the sort is stable)."""
    location = finding.location
    if location is None:
        return (True, "", 0)
    return (False, location.file, location.line)
