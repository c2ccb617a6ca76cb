"""The forward timeline: every torch op while tracing, with grad mode, detach, in-place and ``.data``.

A ``TorchFunctionMode`` sees each torch function and Tensor method call, including ``.detach()``, the
``.data`` getter and setter and grad-mode switches. The recorder turns each into an `Event`, and tags
every new ``grad_fn`` with a `NodeOrigin` (event, line, tensor id, saved-tensor fingerprints) so the
graph walk can say where each node came from and backward can tell whether a saved tensor changed.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import opkind, quirks, warnsite
from gradviz.capture.births import Births
from gradviz.capture.door import Door, UserCall, describe
from gradviz.capture.isolation import isolated
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.locator import Locator
from gradviz.capture.origin import NodeOrigin, grad_fn_of, origin_of, set_origin
from gradviz.capture.quirks import tensors_in as _tensors
from gradviz.capture.saved import FingerprintCache, saved_names, tag_origin
from gradviz.capture.tensor_ids import TensorIds
from gradviz.capture.tensorrefs import TensorRef
from gradviz.capture.timeline import TimelineMixin
from gradviz.capture.wording import TORCH_NO_GRAD
from gradviz.model import Finding, GradMode, Location

__all__ = ["TORCH_NO_GRAD", "ForwardRecorder", "latest_recorder"]

_latest: weakref.ref[ForwardRecorder] | None = None
#: Ways to reach a tensor's memory that autograd's version counter does not watch (besides ``.data``).
_RAW_ACCESS = frozenset(
    {"Tensor.numpy", "Tensor.__array__", "Tensor.__dlpack__", "Tensor.data_ptr", "Tensor.untyped_storage"}
    | {"Tensor.storage", "Tensor._typed_storage", "from_numpy", "frombuffer", "from_dlpack"}
)
_WRITES = (opkind.DATA_SET, opkind.INPLACE)
#: An edit mark meaning "anything may have changed": every fingerprint is compared.
_ANY_TIME = sys.maxsize


def latest_recorder() -> ForwardRecorder | None:
    """The most recently started recorder, while it is alive (for `explain` without a tracer)."""
    return _latest() if _latest is not None else None


class _Mode(TorchFunctionMode):
    """The door for every torch call: routes it to the recorder; one cheap check when recording is off."""

    def __init__(self, recorder: ForwardRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        recorder = self.recorder
        if kwargs is None:
            kwargs = {}
        # Under torch.compile, Dynamo traces through active modes: recording there would only break
        # the user's graph (frames, weak references), so compiled regions stay off the timeline.
        if not recorder._on or torch.compiler.is_compiling():
            if recorder._recording and not torch.compiler.is_compiling():
                recorder._unseen(func, kwargs)  # a user op in a paused block may edit behind autograd
            return func(*args, **kwargs)
        return recorder._part.through(UserCall(func, args, kwargs), recorder._call)


def _version_of(tensor: torch.Tensor) -> tuple[int, bool]:
    """The tensor's ``_version``, and whether autograd tracks it (read where no user mode sees it)."""
    with isolated():
        return tensor._version, tensor.requires_grad


def _warns_on_grad(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor.grad`` makes torch warn: a non-leaf that does not retain its grad."""
    with isolated():
        return tensor.grad_fn is not None and not tensor.retains_grad


class ForwardRecorder(TimelineMixin):
    """Records the forward timeline while started; see the module docstring.

    Args:
        root: Folder whose files are shown relative to it (the traced script's folder).
        max_events: At most this many events are kept; later ones are only counted.
        door: Where capture problems go (the Tracer's); by default the recorder keeps its own, and
            its problems are among its `findings`.
    """

    def __init__(
        self, *, root: str | None = None, max_events: int = 200_000, door: Door | None = None
    ) -> None:
        super().__init__()
        self._own_door = door is None
        self._door = door if door is not None else Door()
        self._part = self._door.part(
            "forward timeline", "the timeline stopped recording here", on_close=self._update
        )
        self._faulty_ops: set[str] = set()
        self._location = Locator(root).here
        self._max_events = max_events
        self._ids = TensorIds()
        self._mode: _Mode | None = None
        self._recording = True
        self._pause_depth = 0
        self._on = False
        # gradviz id of a .data alias (or a view of one) -> the tensor it is the .data of
        self._alias_of: dict[int, tuple[int, TensorRef[torch.Tensor]]] = {}
        self._user_grad = True
        self._inference = False
        # ids of tensors made inside a custom Function's forward: apply() may give them a grad_fn later
        self._unowned: dict[int, Location | None] = {}
        self._prints: FingerprintCache = {}
        # Event index of the latest write that may have bypassed the version counter (a .data edit, an
        # in-place op on a tensor autograd does not track, raw memory access, ops the timeline missed).
        self._edit_mark = -1
        self.births = Births()
        #: Told about .grad reads and assignments and in-place ops, for the ledger (set by the Tracer).
        self.book: LedgerBook | None = None

    # -- control -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording: push the TorchFunctionMode (it nests with the user's own modes)."""
        global _latest
        self._user_grad = torch.is_grad_enabled()
        self._inference = torch.is_inference_mode_enabled()
        self._mode = _Mode(self)
        warnsite.install()
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        _latest = weakref.ref(self)
        self._update()

    def stop(self) -> None:
        """Stop recording and pop the mode, if it is still on top of the stack.

        ``__exit__`` pops whatever mode is on top: a mode of the user's pushed after ours, or a stack
        some torch context restored without ours, must never lose its entry to gradviz.
        """
        mode, self._mode = self._mode, None
        self._update()
        if mode is not None:
            warnsite.uninstall()
            depth = torch._C._len_torch_function_stack()
            if depth and torch._C._get_function_stack_at(depth - 1) is mode:
                mode.__exit__(None, None, None)

    def step_aside(self) -> bool:
        """Take the mode off the stack, when it is on top (so not inside its own or another handler).

        Returns:
            Whether it was taken off; `step_in` puts it back, `stop` needs it no more.
        """
        mode = self._mode
        depth = torch._C._len_torch_function_stack()
        if mode is None or depth == 0 or torch._C._get_function_stack_at(depth - 1) is not mode:
            return False
        self._mode = None
        self._update()
        warnsite.uninstall()
        mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]
        return True

    def step_in(self) -> None:
        """Push the mode again after `step_aside`, recording (a no_grad block after the budget)."""
        if self._mode is not None:
            return
        self._mode = _Mode(self)
        warnsite.install()
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        self.recording = True

    @property
    def recording(self) -> bool:
        """Whether ops are recorded; the Tracer sets False once the backward budget is spent."""
        return self._recording

    @recording.setter
    def recording(self, value: bool) -> None:
        self._recording = value
        self._update()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Leave gradviz's own torch calls (summaries, hooks, Jacobians) out of the timeline."""
        self._pause_depth += 1
        self._update()
        try:
            yield
        finally:
            self._pause_depth -= 1
            self._update()

    def _update(self) -> None:
        self._on = (
            self._mode is not None and self._recording and self._pause_depth == 0 and self._part.is_open
        )
        if self._mode is None or not self._recording or not self._part.is_open:
            self._edit_mark = _ANY_TIME  # ops from now on go unseen

    def may_have_edited(self, event: int) -> bool:
        """Whether a tensor saved at `event` may since have changed behind the version counter.

        False only when the timeline saw every op since then and none could write that way, so
        comparing the saved tensors' fingerprints can be skipped.

        Args:
            event: Id of the event that created the node.
        """
        return event < self._edit_mark

    def note_unseen_access(self) -> None:
        """A ``.data`` access no mode saw (backward hooks run without torch-function modes)."""
        self._edit_mark = _ANY_TIME

    def _unseen(self, func: Any, kwargs: dict[str, Any]) -> None:
        """A user op while paused (a hook during backward): note it when it could edit behind autograd."""
        try:
            code, name = opkind.classify(func)
        except Exception:  # never the user's problem: compare every fingerprint instead
            self._edit_mark = _ANY_TIME
            return
        if code == opkind.DATA_GET or name in _RAW_ACCESS:
            self._edit_mark = _ANY_TIME
        elif code in _WRITES or "out" in kwargs:
            self._edit_mark = len(self._raw)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """What the recorder found worth telling, and its capture problems when it has its own door."""
        own = super().findings
        return own + self._door.findings if self._own_door else own

    def _op_fault(self, op: str, error: Exception) -> None:
        """An op ran but its event is missing; a fault at a second op is gradviz's own: the timeline stops."""
        self._faulty_ops.add(op)
        if len(self._faulty_ops) > 1:
            self._part.fault(error, what=f"{op} ran but could not be recorded")
        else:
            self._part.report(op, f"{op} ran but could not be recorded ({describe(error)})")

    def tensor_id(self, tensor: torch.Tensor) -> int | None:
        """gradviz's sequential id for a tensor seen in an event, or None.

        Args:
            tensor: Any tensor.

        Returns:
            The id used in `Event.inputs` / `Event.outputs`, or None if no event involved it.
        """
        return self._ids.get(tensor)

    def data_base(self, tensor_id: int) -> int | None:
        """For a ``.data`` alias (or a view of one), the id of the tensor whose ``.data`` it is."""
        entry = self._alias_of.get(tensor_id)
        return entry[0] if entry is not None else None

    # -- recording ---------------------------------------------------------------------------------

    def _grad_mode(self) -> tuple[GradMode, str | None]:
        if torch.is_inference_mode_enabled():
            return "inference_mode", None
        if torch.is_grad_enabled():
            return "enabled", None
        return "no_grad", (None if not self._user_grad else TORCH_NO_GRAD)

    def _call(self, call: UserCall) -> Any:
        code, name = opkind.classify(call.func)
        if code == opkind.SKIP:
            return call()
        if len(self._raw) >= self._max_events:
            self._dropped += 1
            self._edit_mark = _ANY_TIME
            return call()
        if code == opkind.DATA_GET or name in _RAW_ACCESS:
            self._edit_mark = _ANY_TIME  # the alias may be written where no mode sees it (a backward hook)
        elif code == opkind.DATA_SET:
            self._edit_mark = len(self._raw)
        if code == opkind.GRAD_MODE:
            return self._grad_switch(call)
        if code == opkind.GRAD_GET:
            return self._grad_get(call)
        if code == opkind.GRAD_SET or (code == opkind.INPLACE and self.book is not None):
            return self._to_ledger(code, name, call)
        return self._op(code, name, call)

    def _op(self, code: int, name: str, call: UserCall) -> Any:
        args, kwargs = call.args, call.kwargs
        target = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if code == opkind.OP and kwargs.get("inplace") is True:
            code = opkind.INPLACE
        modified = kwargs.get("out") if code == opkind.OP else target if code == opkind.INPLACE else None
        version = None
        if isinstance(modified, torch.Tensor):
            version, tracked = _version_of(modified)
            if not tracked:
                self._edit_mark = len(self._raw)  # maybe an alias of .data made before tracing
        result = call()
        try:
            with isolated():  # the user's modes below ours see their op, not gradviz's reading of it
                self._check_inference()
                self._record(code, name, args, kwargs, result, modified, version)
        except Exception as error:  # this op's event is lost; the op itself is done
            self._op_fault(name, error)
        return result

    def _check_inference(self) -> None:
        inference = torch.is_inference_mode_enabled()
        if inference != self._inference:
            self._inference = inference
            detail = "entered (seen at the first op inside)" if inference else "left before this op"
            self._append(("grad_mode", "inference_mode", self._location(), "enabled", (), (), None,
                          None, None, not inference, detail))  # fmt: skip

    def _ids_of(self, values: Sequence[Any]) -> tuple[int, ...]:
        found: list[int] = []
        for value in values:
            for tensor in _tensors(value):
                known = self._ids.get(tensor)
                if known is None or known in self._unowned:
                    known = self._adopt(tensor)
                found.append(known)
        return tuple(found)

    def _adopt(self, tensor: torch.Tensor) -> int:
        tensor_id = self._ids.assign(tensor)
        where = self._unowned.pop(tensor_id, None)
        grad_fn = grad_fn_of(tensor)
        if grad_fn is not None and origin_of(grad_fn) is None:
            # Made where the mode could not see it: a custom autograd.Function, or before tracing.
            op = type(grad_fn).__name__.removesuffix("Backward") + ".apply"
            event = self._append(("op", op, where, "enabled", (), (tensor_id,), type(grad_fn).__name__,
                                  None, None, None, "made outside the timeline"))  # fmt: skip
            tag_origin(
                grad_fn, event, where, tensor_id, id_of=self._ids.get, nearby=[tensor], cache=self._prints
            )
        return tensor_id

    def _record(
        self,
        code: int,
        name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        result: Any,
        modified: Any,
        version: int | None,
    ) -> None:
        draft = quirks.draft_of(self, code, name, args, kwargs, result, modified, version)
        if draft is None:
            return
        quirks.cut_by_grad_mode(self, draft)
        quirk = quirks.BY_CODE.get(code)
        if quirk is not None and not quirk(self, draft):
            return
        if draft.kind == "data_write" or len(self._prints) > 4096:
            self._prints.clear()
        grad_fn = draft.grad_fn
        event = self._append(draft.raw())
        if draft.kind == "op" and not draft.inputs:
            self.births.note(draft.outputs, event)
        if grad_fn is not None:
            made = draft.output_ids[0] if draft.output_ids else None
            if not saved_names(grad_fn):  # saves no tensor (AddBackward0, TBackward0): nothing to fingerprint
                if origin_of(grad_fn) is None:
                    set_origin(grad_fn, NodeOrigin(event, draft.location, made))
                return
            nearby = draft.outputs + _tensors(args)
            tag_origin(
                grad_fn,
                event,
                draft.location,
                made,
                id_of=self._ids.get,
                nearby=nearby,
                cache=self._prints,
                made_now=True,
            )

    def _grad_switch(self, call: UserCall) -> Any:
        result = call()
        args = call.args
        enabled = bool(args[0]) if args else torch.is_grad_enabled()
        self._user_grad = enabled
        op, detail = opkind.grad_switch_name(sys._getframe(2))
        self._append(("grad_mode", op, self._location(), "enabled" if enabled else "no_grad", (), (),
                      None, None, None, enabled, detail))  # fmt: skip
        return result

    def _to_ledger(self, code: int, name: str, call: UserCall) -> Any:
        """A ``.grad`` assignment or an in-place op, told to the ledger (capture/ledgerbook.py)."""
        book, args = self.book, call.args
        token: list[Any] = []
        try:
            with isolated():
                if book is not None and code == opkind.GRAD_SET and len(args) > 1:
                    book.grad_set(args[0], args[1], sys._getframe(3))
                elif book is not None:
                    token = book.before_inplace(name, args, sys._getframe(3))
        except Exception as error:
            self._op_fault(name, error)
        if code == opkind.GRAD_SET:
            return call()
        result = self._op(code, name, call)
        if token and book is not None:
            try:
                with isolated():
                    book.after_inplace(token)
            except Exception as error:
                self._op_fault(name, error)
        return result

    def _grad_get(self, call: UserCall) -> Any:
        tensor = call.args[0] if call.args else None
        if not isinstance(tensor, torch.Tensor):
            return call()
        result = call()
        if self.book is not None:
            try:
                with isolated():
                    self.book.grad_read(tensor, result)
            except Exception as error:
                self._op_fault("Tensor.grad", error)
        if not _warns_on_grad(tensor):
            return result  # torch's warning about it is shown at the user's line (capture/warnsite.py)
        try:
            with isolated():
                self._note_non_leaf_grad(self._ids_of([tensor]), self._location(), self._grad_mode()[0])
        except Exception as error:
            self._op_fault("Tensor.grad", error)
        return result
