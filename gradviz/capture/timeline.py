"""The event store behind the forward recorder: cheap tuples while recording, `Event`s on demand."""

from __future__ import annotations

import re

from gradviz.capture.locator import called_by_user
from gradviz.capture.wording import assigned_name, at, detached_name
from gradviz.model import Event, EventKind, Finding, GradMode, Location

#: (kind, op, location, grad_mode, inputs, outputs, grad_fn, version_before, version_after, enabled, detail)
RawEvent = tuple[
    EventKind,
    str,
    "Location | None",
    GradMode,
    tuple[int, ...],
    tuple[int, ...],
    "str | None",
    "int | None",
    "int | None",
    "bool | None",
    "str | None",
]
_GRAD_READ = re.compile(r"([A-Za-z_][\w.]*?)\.grad\b")


def _label_before(pattern: re.Pattern[str], location: Location | None) -> str | None:
    if location is None or location.code is None:
        return None
    found = pattern.search(location.code)
    return found.group(1) if found else None


class TimelineMixin:
    """Holds the raw events, the drop count and the recorder's own findings."""

    def __init__(self) -> None:
        self._raw: list[RawEvent] = []
        self._built: list[Event] = []
        self._dropped = 0
        self._findings: list[Finding] = []
        self._grad_read_lines: set[Location | None] = set()
        self._warned_lines: set[tuple[str, Location]] = set()

    def _append(self, raw: RawEvent) -> int:
        self._raw.append(raw)
        return len(self._raw) - 1

    @property
    def events(self) -> tuple[Event, ...]:
        """The events recorded so far, in order; ids are their positions."""
        built = self._built
        for index in range(len(built), len(self._raw)):
            kind, op, location, mode, inputs, outputs, grad_fn, before, after, enabled, detail = self._raw[
                index
            ]
            built.append(
                Event(
                    id=index,
                    kind=kind,
                    op=op,
                    location=location,
                    grad_mode=mode,
                    inputs=inputs,
                    outputs=outputs,
                    grad_fn=grad_fn,
                    version_before=before,
                    version_after=after,
                    enabled=enabled,
                    detail=detail,
                )
            )
        return tuple(built)

    @property
    def events_dropped(self) -> int:
        """Events not recorded because ``max_events`` was reached."""
        return self._dropped

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What the recorder itself found worth telling (``.grad`` read on a non-leaf)."""
        return tuple(self._findings)

    def add_backward_event(self, api: str, location: Location | None) -> int:
        """Put a backward/grad call into the timeline.

        Args:
            api: ``"backward"`` or ``"grad"``.
            location: The user's line of the call.

        Returns:
            The new event's id.
        """
        op = "torch.autograd.grad" if api == "grad" else "backward"
        return self._append(("backward", op, location, "enabled", (), (), None, None, None, None, None))

    def _note_cut(self, kind: str, mode: GradMode, location: Location | None) -> None:
        """A finding, once per line, for an op that took tensors requiring grad out of the graph."""
        if location is None or (kind, location) in self._warned_lines or not called_by_user():
            return
        self._warned_lines.add((kind, location))
        label = detached_name(location) if kind == "detach" else assigned_name(location)
        name, again = (label, label) if label else ("A result", "it")
        if kind == "detach":
            cut = "shares the data but is cut from the graph (requires_grad=False), so no gradient flows back"
            if label and "detach" in label:
                message = f"`{label}`{at(location)} gives a tensor that {cut} through it."
            else:
                message = f"{name} was detached{at(location)}: it {cut} through it."
            self._findings.append(Finding(kind="detach", message=message, location=location, label=label))
            return
        switch = "torch.inference_mode()" if mode == "inference_mode" else "torch.no_grad()"
        message = (
            f"{name} was computed under {switch}{at(location)} from tensors that require grad: autograd "
            f"did not record the op, so {again} has no grad_fn and no gradient flows back through it."
        )
        self._findings.append(Finding(kind="no_grad", message=message, location=location, label=label))

    def _note_non_leaf_grad(self, inputs: tuple[int, ...], location: Location | None, mode: GradMode) -> None:
        detail = ".grad of a non-leaf stays None: autograd fills .grad only for leaves (see retain_grad())"
        self._append(("grad_read", "Tensor.grad", location, mode, inputs, (), None, None, None, None, detail))
        if location in self._grad_read_lines:
            return
        self._grad_read_lines.add(location)
        label = _label_before(_GRAD_READ, location)
        name = label or "a tensor"
        where = f" at {location}" if location is not None else ""
        message = (
            f"{name}.grad was read{where}, but {name} is not a leaf (it has a grad_fn), so backward "
            f"leaves its .grad as None. Call {name}.retain_grad() before backward to keep it, or "
            f"use torch.autograd.grad(loss, {name}) to get it directly."
        )
        self._findings.append(Finding(kind="non_leaf_grad", message=message, location=location, label=label))
