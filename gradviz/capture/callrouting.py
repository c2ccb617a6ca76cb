"""Where each backward/grad call goes: captured step by step within the budget, counted past it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gradviz.capture.callcapture import CallCapture
from gradviz.capture.door import Part, UserCall
from gradviz.capture.engine import EnginePatch
from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.functransform import in_transform
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.location import frame_location, user_frame
from gradviz.capture.modules import ModuleRecorder
from gradviz.capture.pastbudget import count_call
from gradviz.capture.watch import Watch

if TYPE_CHECKING:
    from gradviz.model import Finding, Location


class CallRouting:
    """The engine wrapper of the `Tracer`: the door for every backward/grad call."""

    max_backward: int | None
    source_root: str | None
    backward_calls: int
    _capture: CallCapture
    _capture_over: bool
    _in_backward: bool
    _nested: list[int]
    _engine: EnginePatch
    _recorder: ForwardRecorder | None
    _leaves: LeafLedger
    _modules: ModuleRecorder
    _watch: Watch | None
    _book: LedgerBook
    _book_part: Part

    if TYPE_CHECKING:  # the Tracer's own methods

        def paused(self) -> contextlib.AbstractContextManager[Any]:
            """A block in which torch calls are not recorded in the forward timeline."""

        def note_exception(self, exc: BaseException, *, location: Location | None = None) -> Finding | None:
            """Explain an exception in terms of the trace, when it is an autograd error."""

    def _intercept(self, t_outputs: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        original = self._engine.original or _no_engine
        if not self._engine.active or in_transform(t_outputs):  # after tracing; or a torch transform's own
            return original(t_outputs, *args, **kwargs)  # call (torch.func, torch.compile tracing backward)
        engine = UserCall(original, (t_outputs, *args), kwargs)
        recorder = self._recorder
        if self._in_backward or not self._capture_over or (recorder is not None and recorder.recording):
            return self._capture.part.through(engine, self._backward)
        # Past the budget with the timeline off: `through` and `_backward` inlined (every step of a loop).
        self.backward_calls += 1
        self._in_backward = True
        try:
            return count_call(engine, self, self._leaves, self._book, self._book_part)
        except Exception as error:
            if error is engine.error:  # the user's own exception, from their call
                engine.error = None
                raise
            fault = error
        finally:
            self._in_backward = False
        return self._capture.part.recover(engine, fault)

    def _backward(self, engine: UserCall) -> Any:
        self.backward_calls += 1
        if self._in_backward:
            # A backward inside a backward (a hook or checkpoint calling it): counted, not captured.
            if not self._capture_over:  # past the budget, the outer call is not captured either
                self._nested.append(self.backward_calls)
            return engine()
        self._in_backward = True
        try:
            recorder = self._recorder
            if self._capture_over and (recorder is None or not recorder.recording):
                # The timeline records nothing now: no pause needed.
                return count_call(engine, self, self._leaves, self._book, self._book_part)
            with self.paused():
                if self._capture.part.is_open and (
                    self.max_backward is None or len(self._capture.backwards) < self.max_backward
                ):
                    return self._capture_call(engine)
                return self._count(engine)
        finally:
            self._in_backward = False

    def _capture_call(self, engine: UserCall) -> Any:
        frame = user_frame(sys._getframe(1))
        location = frame_location(frame, self.source_root) if frame is not None else None
        try:
            return self._capture.capture(
                self.backward_calls,
                engine,
                location,
                frame,
                lambda exc, where: self.note_exception(exc, location=where),
            )
        finally:
            if self.max_backward is not None and len(self._capture.backwards) >= self.max_backward:
                self._spent()

    def _failed_before_engine(self, call: UserCall, error: BaseException) -> None:
        """A call that raised before reaching the engine: counted, and recorded when within the budget."""
        if in_transform():  # torch.func's own call, as in `_intercept`
            return
        self.backward_calls += 1
        self._capture.part.run(lambda: self._record_failed(call, error))

    def _record_failed(self, call: UserCall, error: BaseException) -> None:
        frame = user_frame(sys._getframe(1))
        location = frame_location(frame, self.source_root) if frame is not None else None
        budget = self.max_backward is None or len(self._capture.backwards) < self.max_backward
        if budget and not self._in_backward:
            with self.paused():
                self._capture.record_failure(self.backward_calls, call, error, location, frame)
            if self.max_backward is not None and len(self._capture.backwards) >= self.max_backward:
                self._spent()
        self.note_exception(error, location=location)

    def _spent(self) -> None:
        """No call will be captured any more (budget spent, or capture switched off by faults): follow
        the leaves through later calls, and stop the timeline."""
        if self._capture_over:
            return
        self._capture_over = True
        self._leaves.part.run(self._leaves.follow)
        self._modules.stop(pausing=True)
        if self._recorder is not None:
            if self._watch is not None:
                self._recorder._part.run(self._watch.begin)
            self._recorder.recording = False

    def _count(self, engine: UserCall) -> Any:
        return count_call(engine, self, self._leaves, self._book, self._book_part)


def _no_engine(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("gradviz's engine wrapper was called while no engine was installed")
