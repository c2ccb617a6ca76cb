"""The Tracer: intercepts every backward/grad call and ties graph, steps and timeline together."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import torch

from gradviz.capture import anomalystack, warnsite
from gradviz.capture.assembly import build_trace, gather_findings
from gradviz.capture.callcapture import CallCapture
from gradviz.capture.callrouting import CallRouting
from gradviz.capture.diagnose import explain_autograd_error
from gradviz.capture.door import Door, Part
from gradviz.capture.engine import EnginePatch
from gradviz.capture.entry import EntryPatch
from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.jittrace import JitTracePatch
from gradviz.capture.leaves import LeafLedger, leaves_part
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.ledgercalls import StepWatch
from gradviz.capture.location import raise_location
from gradviz.capture.modules import ModuleRecorder
from gradviz.capture.movedleaf import NON_LEAF_REFUSED
from gradviz.capture.quirks import swapped_by_conversion
from gradviz.capture.severity import Judge, judge_part
from gradviz.capture.tensorrefs import SwapPatch
from gradviz.capture.valuepool import share_values, stop_sharing
from gradviz.capture.watch import Watch
from gradviz.model import BackwardCall, Event, Finding, Location, Trace

_active: list[Tracer] = []
_TracerT = TypeVar("_TracerT", bound="Tracer")
_finished: list[Tracer] = []


def active_tracer() -> Tracer | None:
    """The innermost Tracer currently recording, if any."""
    return _active[-1] if _active else None


def last_tracer() -> Tracer | None:
    """The Tracer that finished most recently, if any (it holds model data only, no tensors)."""
    return _finished[-1] if _finished else None


class Tracer(CallRouting):
    """Records what autograd does while active: a context manager.

    Every ``Tensor.backward()``, ``torch.autograd.backward`` and ``torch.autograd.grad`` call is seen,
    however the user imported it, because all three go through ``torch.autograd._engine_run_backward``,
    which the Tracer wraps while it is active (`EnginePatch`). The first ``max_backward`` calls are
    captured in full (`CallCapture`); later ones are counted and their effect on each leaf's ``.grad``
    summarised (`LeafLedger`). Every callback from torch goes through one door (`Door`): a fault in
    gradviz becomes a capture problem, never the user's.

    Args:
        max_backward: How many calls to capture step by step (None: all of them).
        record_forward: Whether to record the forward timeline (ops, grad mode, detach, .data).
        jacobians: Whether to compute local Jacobians of small nodes.
        script: The script being traced, for the trace's header.
        source_root: Files under this folder are shown relative to it.
    """

    def __init__(
        self,
        *,
        max_backward: int | None = 3,
        record_forward: bool = True,
        jacobians: bool = True,
        script: str | None = None,
        source_root: str | None = None,
    ) -> None:
        self.max_backward = max_backward
        self.script = script
        self.source_root = source_root
        self.backward_calls = 0
        self._door = Door()
        self._findings: list[Finding] = []
        self._explained: list[BaseException] = []
        self._refused: list[Location | None] = []  # where an optimizer refused a non-leaf tensor
        self._explaining = self._door.part("explaining errors", "later errors are not explained")
        self._leaves = LeafLedger(leaves_part(self._door))
        self._recorder = ForwardRecorder(root=source_root, door=self._door) if record_forward else None
        self._capture = CallCapture(
            self._door, leaves=self._leaves, recorder=self._recorder, jacobians=jacobians, on_off=self._spent
        )
        self._capture_over = False
        self._book = LedgerBook(self._leaves.label, self._recorder._location if self._recorder else _nowhere)
        self._capture.book = self._book
        self._leaves.on_settled = self._book.counted_arrivals
        # The ledger's entries are timeline events (lines, .grad edits): one part with the timeline.
        self._book_part = (
            self._recorder._part
            if self._recorder is not None
            else self._door.part("ledger", "later steps are left out of the ledger")
        )
        if self._recorder is not None:
            self._recorder.book = self._book
        self._engine = EnginePatch()
        # The call count read twice a call by the entry wrapper: a C-level getattr, not a Python lambda.
        self._entries = EntryPatch(partial(getattr, self, "backward_calls"), self._failed_before_engine)
        self._jit = JitTracePatch(partial(getattr, self, "_recorder"))
        self._swaps = SwapPatch(
            self._door.part("tensor swaps", "a swapped tensor may be kept alive"), self._swapped
        )
        self._judge = Judge(
            self._leaves,
            self._recorder.cuts if self._recorder is not None else None,
            source_root,
            judge_part(self._door),
        )
        # One optimizer post-hook for the Judge and the ledger (torch calls each hook through a Python loop).
        self._steps = StepWatch(self._book, self._book_part, also=self._judge.step_hook)
        self._modules = ModuleRecorder(self._door)
        self._watch = Watch(self._recorder) if self._recorder is not None else None
        self._in_backward = False
        self._nested: list[int] = []  # calls made while another backward ran

    # ----- context manager -------------------------------------------------------------------------

    def __enter__(self: _TracerT) -> _TracerT:
        self._shared_values = share_values()
        self._engine.install(self._intercept)
        self._entries.install()
        self._swaps.install()
        self._jit.install()
        warnsite.install()
        anomalystack.install()
        _active.append(self)
        self._judge.start(hook=False)
        self._steps.start()
        self._modules.start()
        recorder = self._recorder
        if recorder is not None:
            try:
                recorder.start()
            except Exception as error:  # backward is still captured without the timeline
                recorder._part.fault(error, what="it could not start")
                with contextlib.suppress(Exception):
                    recorder.stop()
                self._recorder = None
                self._capture.use_timeline(None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            # Even a part a fault switched off takes its mode and hooks away: nothing stays behind.
            _always(self._modules.part, self._modules.stop)
            if self._recorder is not None:
                if self._watch is not None:
                    _always(self._recorder._part, self._watch.end)
                _always(self._recorder._part, self._recorder.stop)
            _always(self._leaves.part, self._leaves.unfollow)
            _always(self._judge.part, self._judge.stop)
            _always(self._judge.part, self._steps.stop)
            _always(self._book_part, self._book.close)
        finally:
            self._engine.restore()
            self._entries.restore()
            self._swaps.restore()
            self._jit.restore()
            warnsite.uninstall()
            anomalystack.uninstall()
            stop_sharing(self._shared_values)
            if self in _active:
                _active.remove(self)
            _finished[:] = [self]
        if exc is not None:
            self.note_exception(exc)
        # Explained exceptions were kept only to explain each once; their tracebacks hold the user's
        # frames (and tensors), and a finished tracer stays reachable through last_tracer().
        self._explained.clear()

    def _swapped(self, param: torch.Tensor, old: torch.Tensor) -> None:
        """After ``torch.utils.swap_tensors(param, old)``: param's hooks went with its old data."""
        self._leaves.part.run(lambda: self._leaves.swapped(param))
        recorder = self._recorder
        if recorder is not None:
            self._judge.part.run(lambda: recorder.cuts.swapped(param))
            recorder._part.run(lambda: swapped_by_conversion(recorder, param))

    # ----- what was recorded -----------------------------------------------------------------------

    @property
    def backwards(self) -> tuple[BackwardCall, ...]:
        """The captured calls so far."""
        return tuple(self._capture.backwards)

    @property
    def events(self) -> tuple[Event, ...]:
        """The forward timeline so far."""
        return self._recorder.events if self._recorder is not None else ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Warnings, explained errors and capture problems so far, in the order of the lines they concern."""
        found = [
            *self._findings,
            *self._capture.findings,
            *(self._recorder.findings if self._recorder is not None else ()),
        ]
        return gather_findings(
            found,
            events=self.events,
            backwards=self.backwards,
            refused=self._refused,
            judge=self._judge,
            door=self._door,
        )

    @property
    def leaf_ledger(self) -> LeafLedger:
        """Every leaf's gradient arrivals and name, for `gradviz.explain`."""
        return self._leaves

    def tensor_id(self, tensor: torch.Tensor) -> int | None:
        """gradviz's id for a tensor the forward timeline has seen, as in `Event.inputs`."""
        return self._recorder.tensor_id(tensor) if self._recorder is not None else None

    def result(self) -> Trace:
        """Everything recorded so far, as a frozen `Trace`."""
        findings, events = self.findings, self.events
        recorder = self._recorder
        return build_trace(
            script=self.script,
            backward_calls=self.backward_calls,
            events=events,
            backwards=self.backwards,
            findings=findings,
            cuts=recorder.cuts if recorder is not None else None,
            book=self._book,
            leaves=self._leaves,
            events_dropped=recorder.events_dropped if recorder is not None else 0,
            nested_calls=tuple(self._nested),
        )

    def note_exception(self, exc: BaseException, *, location: Location | None = None) -> Finding | None:
        """Explain an exception in terms of the trace, when it is an autograd error.

        Args:
            exc: An exception the user's code raised.
            location: Where it was raised, when its traceback does not reach the user's frames yet.

        Returns:
            The explanation, also kept in `findings`; None when there is nothing to explain (or it was
            explained already).
        """
        if any(seen is exc for seen in self._explained) or not self._explaining.is_open:
            return None
        self._explained.append(exc)
        try:
            where = raise_location(exc, self.source_root) or location
            if NON_LEAF_REFUSED in str(exc):
                self._refused.append(where)
            finding = explain_autograd_error(exc, events=self.events, calls=self.backwards, location=where)
        except Exception as error:  # explaining must never replace the user's own error
            self._explaining.fault(error, what=f"could not explain {type(exc).__name__}")
            return None
        if finding is not None:
            self._findings.append(finding)
        return finding

    def paused(self) -> contextlib.AbstractContextManager[Any]:
        """A block in which torch calls are not recorded in the forward timeline."""
        if self._recorder is None:
            return contextlib.nullcontext()
        return self._recorder.paused()


def _always(part: Part, cleanup: Callable[[], None]) -> None:
    """Run a part's cleanup whether or not a fault switched the part off; a failure is a problem."""
    try:
        cleanup()
    except Exception as error:
        part.fault(error, what="could not clean up")


def _nowhere(frame: object = None) -> Location | None:
    return None
