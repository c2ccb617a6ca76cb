"""The forward timeline: every torch op while tracing, with grad mode, detach, in-place and ``.data``.

A ``TorchFunctionMode`` (`gradviz.capture.forwardmode`) sees each torch function and Tensor method call,
including ``.detach()``, the ``.data`` getter and setter and grad-mode switches. The recorder turns each
into an `Event` (``.grad`` reads and writes also go to the ledger: `gradviz.capture.forwardgrad`), and tags
every new ``grad_fn`` with a `NodeOrigin` (event, line, tensor id, saved-tensor fingerprints) so the
graph walk can say where each node came from and backward can tell whether a saved tensor changed.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture import opkind, quirks
from gradviz.capture.births import Births
from gradviz.capture.door import Door, UserCall, describe
from gradviz.capture.fastop import PlainOps
from gradviz.capture.fastwrite import UntrackedWrites
from gradviz.capture.forwardgrad import GradAccess
from gradviz.capture.forwardids import TensorTagging
from gradviz.capture.forwardmode import ANY_TIME, RAW_ACCESS, ModeControl, TimelineMode
from gradviz.capture.isolation import isolated
from gradviz.capture.lazyprints import LazyPrints
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.locator import Locator
from gradviz.capture.origin import grad_fn_of
from gradviz.capture.saved import FingerprintCache
from gradviz.capture.tensor_ids import TensorIds
from gradviz.capture.tensorrefs import TensorRef
from gradviz.capture.versions import version_of
from gradviz.capture.wording import TORCH_NO_GRAD
from gradviz.model import Finding, GradMode, Location

__all__ = ["TORCH_NO_GRAD", "ForwardRecorder", "latest_recorder"]

_latest: weakref.ref[ForwardRecorder] | None = None


def latest_recorder() -> ForwardRecorder | None:
    """The most recently started recorder, while it is alive (for `explain` without a tracer)."""
    return _latest() if _latest is not None else None


def _version_of(tensor: torch.Tensor) -> tuple[int | None, bool]:
    """The tensor's ``_version`` (None for an inference tensor, which has none), and whether autograd
    tracks it (read where no user mode sees it)."""
    with isolated():
        return version_of(tensor), tensor.requires_grad


class ForwardRecorder(ModeControl, TensorTagging, GradAccess, PlainOps, UntrackedWrites):
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
        self._prints: FingerprintCache = {}
        self._lazy = LazyPrints(self._ids.get, self._prints)
        self._mode: TimelineMode | None = None
        self._recording = True
        self._pause_depth = 0
        self._on = False
        # gradviz id of a .data alias (or a view of one) -> the tensor it is the .data of
        self._alias_of: dict[int, tuple[int, TensorRef[torch.Tensor]]] = {}
        self._user_grad = True
        self._inference = False
        # ids of tensors made inside a custom Function's forward: apply() may give them a grad_fn later
        self._unowned: dict[int, Location | None] = {}
        # Event index of the latest write that may have bypassed the version counter (a .data edit, an
        # in-place op on a tensor autograd does not track, raw memory access, ops the timeline missed).
        self._edit_mark = -1
        self.births = Births()
        #: Told about .grad reads and assignments and in-place ops, for the ledger (set by the Tracer).
        self.book: LedgerBook | None = None

    def _recorder(self) -> ForwardRecorder:
        return self

    def start(self) -> None:
        """Start recording: push the TorchFunctionMode (it nests with the user's own modes)."""
        global _latest
        super().start()
        _latest = weakref.ref(self)

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
            self._mark(ANY_TIME)
            return call()
        if code == opkind.DATA_GET or name in RAW_ACCESS:
            self._mark(ANY_TIME)  # the alias may be written where no mode sees it (a backward hook)
        elif code == opkind.DATA_SET:
            self._mark(len(self._raw))
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
            # Maybe an alias of .data made before tracing: only a write to a saved tensor's memory matters.
            if not tracked and self._edit_mark != ANY_TIME and self._lazy.may_touch(modified):
                self._mark(len(self._raw))
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
        # The usual op (grad on, a plain tensor out, no .data alias about): no quirk applies, no draft.
        if code == opkind.OP and type(result) is torch.Tensor and not self._alias_of and _grad_on():
            self._record_op(name, args, kwargs, result, version)
            return
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
            self._tag(grad_fn, event, draft.location, draft.outputs, draft.output_ids)

    def _record_op(
        self,
        name: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        result: torch.Tensor,
        version: int | None,
    ) -> None:
        """`_record` for an op under grad mode with one plain tensor out and no ``.data`` alias about."""
        location = self._location()
        inputs = self._ids_of(args) + self._ids_of(list(kwargs.values())) if kwargs else self._ids_of(args)
        made = self._ids.assign(result)
        grad_fn = grad_fn_of(result)
        if len(self._prints) > 4096:
            self._prints.clear()
        node = type(grad_fn).__name__ if grad_fn is not None else None
        event = self._append(
            ("op", name, location, "enabled", inputs, (made,), node, version, None, None, None)
        )
        if not inputs:
            self.births.note([result], event)
        if grad_fn is not None:
            self._tag(grad_fn, event, location, [result], (made,))

    def _grad_switch(self, call: UserCall) -> Any:
        result = call()
        args = call.args
        enabled = bool(args[0]) if args else torch.is_grad_enabled()
        self._user_grad = enabled
        op, detail = opkind.grad_switch_name(sys._getframe(2))
        self._append(("grad_mode", op, self._location(), "enabled" if enabled else "no_grad", (), (),
                      None, None, None, enabled, detail))  # fmt: skip
        return result


def _grad_on() -> bool:
    return torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
