"""The event store behind the forward recorder: cheap tuples while recording, `Event`s on demand."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from gradviz.capture.blocks import block_line_from_frames
from gradviz.capture.cutfindings import cut_finding
from gradviz.capture.cuts import CutKind, CutLedger
from gradviz.capture.locator import called_by_user
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

    #: The user's line at or above a frame (the recorder's `Locator`).
    _location: Callable[..., Location | None]
    #: gradviz's id for a tensor, where the timeline has one (the recorder's `tensor_id`).
    tensor_id: Callable[[torch.Tensor], int | None]

    def __init__(self) -> None:
        self._raw: list[RawEvent] = []
        self._built: list[Event] = []
        self._dropped = 0
        self._findings: list[Finding] = []
        self._grad_read_lines: set[Location | None] = set()
        self.cuts = CutLedger()
        self._scanned = 0
        self._block: Location | None = None

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
        """What the recorder itself found worth telling: ``.grad`` read on a non-leaf, cuts (as notes)."""
        return (*self._findings, *self.cut_notes())

    def cut_notes(self) -> tuple[Finding, ...]:
        """Each cut as a note, as the timeline alone sees it (the `Judge` decides which are warnings)."""
        return tuple(cut_finding(cut, None) for cut in self.cuts.cuts.values())

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

    def _note_cut(
        self,
        kind: CutKind,
        mode: GradMode,
        location: Location | None,
        sources: Sequence[torch.Tensor] = (),
        outputs: Sequence[int] = (),
    ) -> None:
        """Count an op that took tensors requiring grad out of the graph, in the `CutLedger`.

        ``no_grad`` ops count towards their block (the ``with`` or call line that switched grad off), so an
        evaluation loop through a model is one cut, not one per line of the model.
        """
        if location is None:
            return
        block = self._block_line(mode) if kind == "no_grad" else None
        # Inside torch (an nn.Module's forward, hessian()), an op counts only in a block the user opened.
        if not called_by_user() and (block is None or block == location):
            return
        self.cuts.note(
            kind, mode, location, block, [s for s in sources if s.requires_grad], outputs, self.tensor_id
        )

    def _block_line(self, mode: GradMode) -> Location | None:
        """The line that switched grad off for the op being recorded, read from the grad-mode events."""
        for index in range(self._scanned, len(self._raw)):
            raw = self._raw[index]
            if raw[0] == "grad_mode" and raw[1] != "inference_mode":
                self._block = raw[2] if raw[9] is False else None
        self._scanned = len(self._raw)
        if mode == "inference_mode":
            return block_line_from_frames(self._location)
        return self._block

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
