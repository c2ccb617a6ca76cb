"""The forward timeline, findings, and the whole trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gradviz.model.calls import BackwardCall, LedgerEntry
from gradviz.model.values import GradMode, Location, Severity, Value

SCHEMA = "gradviz.trace/1"

EventKind = Literal[
    "op",
    "grad_mode",
    "detach",
    "inplace",
    "data_read",
    "data_write",
    "requires_grad",
    "retain_grad",
    "backward",
    "grad_read",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the forward timeline.

    Attributes:
        id: Sequential id in the order things happened.
        kind: What sort of event (a plain op, a grad-mode switch, a detach, an in-place op, ...).
        op: The torch function or Tensor method, e.g. ``"mul"``, ``"Tensor.mul_"``, ``"no_grad"``.
        location: The user's line.
        grad_mode: The grad mode the op ran under.
        inputs: gradviz tensor ids of the tensor arguments.
        outputs: gradviz tensor ids of the tensor results.
        grad_fn: ``type(out.grad_fn).__name__`` of the first output, None when it joined no graph.
        version_before: ``_version`` of the modified tensor before an in-place op.
        version_after: ``_version`` after it.
        enabled: For ``grad_mode`` events, whether grad is enabled after the switch.
        detail: One line of extra explanation, where useful.
    """

    id: int
    kind: EventKind
    op: str
    location: Location | None
    grad_mode: GradMode = "enabled"
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    grad_fn: str | None = None
    version_before: int | None = None
    version_after: int | None = None
    enabled: bool | None = None
    detail: str | None = None


FindingKind = Literal[
    "no_grad",
    "detach",
    "data_edit",
    "accumulation",
    "autograd_error",
    "capture_problem",
    "non_leaf_grad",
    "retain_graph",
    "moved_leaf",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a user should be told about: a warning, an explained error, or a capture problem.

    Attributes:
        kind: What sort of finding.
        message: One or more sentences in plain words, naming the tensor and the line.
        location: The line it is about.
        call: Index of the backward call it concerns, where it concerns one.
        label: The tensor it concerns, by the user's name.
        severity: ``"warning"`` (probably a bug: act) or ``"note"`` (autograd did this, as intended).
        count: How many times it happened (capture problems of one kind are reported once, counted).
    """

    kind: FindingKind
    message: str
    location: Location | None = None
    call: int | None = None
    label: str | None = None
    severity: Severity = "warning"
    count: int = 1


@dataclass(frozen=True, slots=True)
class LeafSummary:
    """How one leaf's ``.grad`` changed over the backward calls that were counted but not captured.

    Attributes:
        label: The leaf's name, where found.
        calls: How many uncaptured calls changed it.
        grad_after: Its ``.grad`` after the last of them.
    """

    label: str | None
    calls: int
    grad_after: Value | None = None


@dataclass(frozen=True, slots=True)
class EventCount:
    """Plain ops of the forward timeline counted instead of kept, one record per op and line.

    trace.json keeps the events around the captured calls and every no_grad, detach, in-place and
    ``.data`` event in full; the other plain ops are counted here, so that a long loop stays small.

    Attributes:
        op: The torch function or Tensor method, as in `Event.op`.
        location: The user's line.
        count: How many such events were left out.
        first: Id of the first of them.
        last: Id of the last of them.
    """

    op: str
    location: Location | None
    count: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Trace:
    """Everything one tracing session recorded.

    Attributes:
        torch_version: ``torch.__version__`` at capture time.
        script: The script that ran, when traced through the CLI.
        backward_calls: Every backward/grad call seen, captured or not.
        events: The forward timeline.
        backwards: The captured calls, in call order.
        findings: Warnings, explained errors and capture problems, in the order found.
        uncaptured: Leaf-gradient changes of the calls past ``max_backward``.
        events_dropped: Forward events not recorded because the budget was spent.
        ledger: Each leaf's ``.grad`` and value over time: backward calls, zeroings, updates, in order.
        event_counts: Plain forward ops left out of ``events`` when trace.json was written, counted per
            op and line (empty when every event was kept).
        calls_left_out: Indices of captured calls left out of ``backwards`` when trace.json was written,
            because even thinned (see `BackwardCall.thinned`) they passed the file's size bound.
        nested_calls: Indices of the calls made while another backward ran (a reentrant checkpoint, a
            hook calling backward): counted, never captured, whatever the budget.
        schema: Schema version of trace.json.
    """

    torch_version: str
    script: str | None = None
    backward_calls: int = 0
    events: tuple[Event, ...] = ()
    backwards: tuple[BackwardCall, ...] = ()
    findings: tuple[Finding, ...] = ()
    uncaptured: tuple[LeafSummary, ...] = ()
    events_dropped: int = 0
    ledger: tuple[LedgerEntry, ...] = ()
    event_counts: tuple[EventCount, ...] = ()
    calls_left_out: tuple[int, ...] = ()
    nested_calls: tuple[int, ...] = ()
    schema: str = field(default=SCHEMA)
