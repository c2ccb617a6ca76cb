"""The forward timeline: every torch op while tracing, with grad mode, detach, in-place and ``.data``.

A ``TorchFunctionMode`` sees each torch function and Tensor method call, including ``.detach()``, the
``.data`` getter and setter and grad-mode switches. The recorder turns each into an `Event`, and tags
every new ``grad_fn`` with a `NodeOrigin` (event, line, tensor id, saved-tensor fingerprints) so the
graph walk can say where each node came from and backward can tell whether a saved tensor changed.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from gradviz.capture import opkind
from gradviz.capture.births import Births
from gradviz.capture.locator import Locator, apply_location
from gradviz.capture.origin import grad_fn_of, origin_of
from gradviz.capture.saved import FingerprintCache, tag_origin
from gradviz.capture.tensor_ids import TensorIds
from gradviz.capture.timeline import TimelineMixin, reissue_at_user_line
from gradviz.capture.wording import TORCH_NO_GRAD
from gradviz.model import EventKind, GradMode, Location

__all__ = ["TORCH_NO_GRAD", "ForwardRecorder", "latest_recorder"]

_latest: weakref.ref[ForwardRecorder] | None = None


def latest_recorder() -> ForwardRecorder | None:
    """The most recently started recorder, while it is alive (for `explain` without a tracer)."""
    return _latest() if _latest is not None else None


class _Mode(TorchFunctionMode):
    """Routes every torch call to the recorder; one cheap check when recording is off."""

    def __init__(self, recorder: ForwardRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        recorder = self.recorder
        # Under torch.compile, Dynamo traces through active modes: recording there would only break
        # the user's graph (frames, weak references), so compiled regions stay off the timeline.
        if not recorder._on or torch.compiler.is_compiling():
            return func(*args, **(kwargs or {}))
        return recorder._call(func, args, kwargs or {})


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


class ForwardRecorder(TimelineMixin):
    """Records the forward timeline while started; see the module docstring.

    Args:
        root: Folder whose files are shown relative to it (the traced script's folder).
        max_events: At most this many events are kept; later ones are only counted.
    """

    def __init__(self, *, root: str | None = None, max_events: int = 200_000) -> None:
        super().__init__()
        self._location = Locator(root).here
        self._max_events = max_events
        self._ids = TensorIds()
        self._mode: _Mode | None = None
        self._recording = True
        self._pause_depth = 0
        self._on = False
        # gradviz id of a .data alias (or a view of one) -> the tensor it is the .data of
        self._alias_of: dict[int, tuple[int, weakref.ref[torch.Tensor]]] = {}
        self._user_grad = True
        self._inference = False
        # ids of tensors made inside a custom Function's forward: apply() may give them a grad_fn later
        self._unowned: dict[int, Location | None] = {}
        self._prints: FingerprintCache = {}
        self.births = Births()

    # -- control -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start recording: push the TorchFunctionMode (it nests with the user's own modes)."""
        global _latest
        self._user_grad = torch.is_grad_enabled()
        self._inference = torch.is_inference_mode_enabled()
        self._mode = _Mode(self)
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        _latest = weakref.ref(self)
        self._update()

    def stop(self) -> None:
        """Stop recording and pop the mode."""
        mode, self._mode = self._mode, None
        self._update()
        if mode is not None:
            mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]

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
        self._on = self._mode is not None and self._recording and self._pause_depth == 0

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

    def _call(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        code, name = opkind.classify(func)
        if code == opkind.SKIP:
            return func(*args, **kwargs)
        if len(self._raw) >= self._max_events:
            self._dropped += 1
            return func(*args, **kwargs)
        if code == opkind.GRAD_MODE:
            return self._grad_switch(func, args, kwargs)
        if code == opkind.GRAD_GET:
            return self._grad_get(func, args, kwargs)
        target = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if code == opkind.OP and kwargs.get("inplace") is True:
            code = opkind.INPLACE
        modified = kwargs.get("out") if code == opkind.OP else target if code == opkind.INPLACE else None
        version = modified._version if isinstance(modified, torch.Tensor) else None
        result = func(*args, **kwargs)
        self._check_inference()
        try:
            self._record(code, name, args, kwargs, result, modified, version)
        except Exception as error:  # recording must never break the user's computation
            self._note_problem(name, error)
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
        outputs = _tensors(result)
        if not outputs and code == opkind.OP:
            return
        location = self._location()
        grad_mode, detail = self._grad_mode()
        inputs = self._ids_of(args) + self._ids_of(list(kwargs.values()))
        output_ids = tuple(self._ids.assign(tensor) for tensor in outputs)
        if detail is TORCH_NO_GRAD:
            where = apply_location(self._location)
            self._unowned.update(dict.fromkeys(output_ids, where))
        elif (
            code == opkind.OP
            and grad_mode != "enabled"
            and any(isinstance(arg, torch.Tensor) and arg.requires_grad for arg in args)
        ):
            self._note_cut("no_grad", grad_mode, location, _tensors(list(args)), output_ids)
        grad_fn = grad_fn_of(outputs[0]) if outputs else None
        kind: EventKind = "op"
        after: int | None = None
        enabled: bool | None = None
        if code == opkind.INPLACE and isinstance(modified, torch.Tensor):
            after = modified._version
            modified_id = self._ids.assign(modified)
            alias = self._alias_of.get(modified_id)
            kind, output_ids, grad_fn = "inplace", (modified_id,), grad_fn_of(modified)
            outputs = [modified]
            if alias is not None:
                # The alias has its own version counter: the tensor it came from keeps its version.
                kind, output_ids = "data_write", (alias[0],)
                base = alias[1]()
                version = after = base._version if base is not None else None
                detail = "in-place edit through .data: autograd's version counter did not see it"
        elif code == opkind.OP and args and self._alias_of and grad_fn is None:
            alias = self._alias_of.get(inputs[0]) if inputs else None
            if alias is not None and outputs[0]._is_view():
                for output_id in output_ids:
                    self._alias_of[output_id] = alias
        elif code in (opkind.DETACH, opkind.DETACH_INPLACE):
            kind = "detach"
            source = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if source is not None and (source.requires_grad or code == opkind.DETACH_INPLACE):
                self._note_cut("detach", grad_mode, location, [source], output_ids)
        elif code == opkind.DATA_GET:
            kind = "data_read"
            for output_id in output_ids:
                self._alias_of[output_id] = (inputs[0], weakref.ref(args[0]))
        elif code == opkind.DATA_SET:
            if len(inputs) > 1 and self.data_base(inputs[1]) == inputs[0]:
                return  # the tail of `x.data *= k`: already recorded as the in-place edit
            kind, output_ids, inputs = "data_write", inputs[:1], inputs[1:]
            version = after = args[0]._version
            detail = "x.data = ... swapped the values: autograd records nothing"
        elif code in (opkind.REQUIRES_GRAD, opkind.REQUIRES_GRAD_SET):
            kind, enabled = "requires_grad", bool(args[0].requires_grad)
        elif code == opkind.RETAIN_GRAD:
            kind = "retain_grad"
        if kind == "data_write" or len(self._prints) > 4096:
            self._prints.clear()
        event = self._append((kind, name, location, grad_mode, inputs, output_ids,
                              type(grad_fn).__name__ if grad_fn is not None else None,
                              version, after, enabled, detail))  # fmt: skip
        if kind == "op" and not inputs:
            self.births.note(outputs, event)
        if grad_fn is not None:
            made = output_ids[0] if output_ids else None
            nearby = outputs + _tensors(args)
            tag_origin(grad_fn, event, location, made, id_of=self._ids.get, nearby=nearby, cache=self._prints)

    def _grad_switch(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        result = func(*args, **kwargs)
        enabled = bool(args[0]) if args else torch.is_grad_enabled()
        self._user_grad = enabled
        op, detail = opkind.grad_switch_name(sys._getframe(2))
        self._append(("grad_mode", op, self._location(), "enabled" if enabled else "no_grad", (), (),
                      None, None, None, enabled, detail))  # fmt: skip
        return result

    def _grad_get(self, func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        tensor = args[0] if args else None
        if not isinstance(tensor, torch.Tensor) or tensor.grad_fn is None or tensor.retains_grad:
            return func(*args, **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = func(*args, **kwargs)
        reissue_at_user_line(caught)
        try:
            self._note_non_leaf_grad(self._ids_of([tensor]), self._location(), self._grad_mode()[0])
        except Exception as error:
            self._note_problem("Tensor.grad", error)
        return result
