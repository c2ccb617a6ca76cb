"""The usual op on the timeline, recorded in one pass: plain tensors in and out, grad mode on.

Most of a forward pass is such ops (``linear``, ``relu``, ``add``): no quirk applies, no ``.data`` alias
is about and no mode of the user's is on the stack, so gradviz's own reads (``grad_fn``, ``data_ptr``)
reach nobody and need no `isolated` block. `PlainOps.plain_op` checks all of that and records the event
as `ForwardRecorder._record` would, for one tensor out, several in a tuple (attention's ``(out, None)``,
``chunk``) or a plain value (``dim()``: no event); anything else goes the general way, through the door.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradviz.capture import opkind
from gradviz.capture.isolation import isolated
from gradviz.capture.lazyprints import LazyPrints
from gradviz.capture.origin import grad_fn_of
from gradviz.capture.saved import FingerprintCache, saved_names
from gradviz.capture.tensor_ids import TensorIds

_Tensor = torch.Tensor
_Parameter = torch.nn.Parameter
_grad_enabled = torch.is_grad_enabled
_inference_enabled = torch.is_inference_mode_enabled
_function_modes = torch._C._len_torch_function_stack
_dispatch_modes = torch._C._len_torch_dispatch_stack
#: Arguments that are no tensor and hold none: nothing to name, nothing that could run user code.
_PLAIN_VALUES = frozenset(
    {int, float, bool, str, type(None), torch.dtype, torch.device, torch.Size, slice, type(Ellipsis)}
)

#: Per torch function: its names as an ordinary op and as an in-place write (see `op_names`).
_op_names: dict[Any, tuple[str, str]] = {}
#: The names `op_names` found for a function already, or None.
cached_names = _op_names.get
#: What `op_names` gives a call the timeline leaves out (``Tensor.backward``, attribute reads).
SKIPPED = "<skipped>"


def op_names(func: Any, raw_access: frozenset[str]) -> tuple[str, str]:
    """The op's timeline name as an ordinary op (or `SKIPPED`), and as an in-place write that reaches no
    raw memory; ``""`` where it is not that kind (cached per function).

    Args:
        func: The torch function the mode was handed.
        raw_access: Names that reach memory behind the version counter (they set an edit mark).
    """
    names = _op_names.get(func)
    if names is None:
        code, name = opkind.classify(func)
        if code == opkind.SKIP:
            names = (SKIPPED, "")
        elif name in raw_access or code not in (opkind.OP, opkind.INPLACE):
            names = ("", "")
        else:
            names = (name, "") if code == opkind.OP else ("", name)
        _op_names[func] = names
    return names


def _plain_args(values: Any) -> bool:
    """Whether every argument is a plain tensor (or Parameter), a list of them, or a plain value."""
    for value in values:
        kind = type(value)
        if kind is _Tensor or kind is _Parameter or kind in _PLAIN_VALUES:
            continue
        if kind is not list and kind is not tuple:
            return False
        for item in value:
            kind = type(item)
            if not (kind is _Tensor or kind is _Parameter or kind in _PLAIN_VALUES):
                return False
    return True


_ONE, _SEVERAL, _NONE = "one", "several", "none"
#: gradviz's frames between the user's torch call and the line lookup: `_one_pass` (or `_several`),
#: `plain_op` and the mode's ``__torch_function__``.
_OWN_FRAMES = 3


def _is_tensor(value: Any) -> bool:
    return type(value) is _Tensor


def _shape_of(result: Any) -> str:
    """`_ONE` plain tensor, `_SEVERAL` in a tuple or list (with Nones), `_NONE` for a plain value, else ""."""
    kind = type(result)
    if kind is _Tensor:
        return _ONE
    if kind is tuple or kind is list or kind.__module__ == "torch.return_types":  # max(dim=...), sort
        found = False
        for item in result:
            if type(item) is _Tensor:
                found = True
            elif item is not None:
                return ""
        return _SEVERAL if found else ""
    return _NONE if kind in _PLAIN_VALUES else ""


class PlainOps:
    """The one-pass recording of the usual op (mixed into `ForwardRecorder`)."""

    _ids: TensorIds
    _lazy: LazyPrints
    _prints: FingerprintCache
    _alias_of: dict[int, Any]
    _inference: bool
    _raw: list[Any]
    _location: Callable[..., Any]
    births: Any
    _ids_of: Callable[[Any], tuple[int, ...]]
    _op_fault: Callable[[str, Exception], None]
    _check_inference: Callable[[], None]
    _record: Callable[..., None]
    _part: Any
    _tag: Callable[..., None]

    def plain_op(self, name: str, args: Any, kwargs: dict[str, Any], result: Any) -> None:
        """Record an ordinary op that has just run (`op_names`, no ``out=``, no ``inplace=True``).

        A gradviz fault loses this op's event only, as in the general way; the user's result is theirs.
        """
        try:
            shape = _ONE if type(result) is _Tensor else _shape_of(result)
            if (
                shape
                and not self._alias_of
                and not self._inference
                and not self._lazy.eager
                and _grad_enabled()
                and not _inference_enabled()
                and not _function_modes()
                and not _dispatch_modes()
                and _plain_args(args)
                and (not kwargs or _plain_args(kwargs.values()))
            ):
                if shape is _ONE:
                    self._one_pass(name, args, kwargs, result)
                elif shape is _SEVERAL:
                    self._several(name, args, kwargs, list(filter(_is_tensor, result)))
                return  # _NONE: a plain value out (``Tensor.dim``): the general way records nothing either
            with isolated():  # the user's modes below ours see their op, not gradviz's reading of it
                self._check_inference()
                self._record(opkind.OP, name, args, kwargs, result, None, None)
        except Exception as error:  # this op's event is lost; the op itself is done
            try:
                self._op_fault(name, error)
            except Exception as fault:
                self._part.fault(fault)

    def _several(self, name: str, args: Any, kwargs: dict[str, Any], outputs: list[torch.Tensor]) -> None:
        """`_one_pass` for plain tensors out in a tuple (``chunk``, ``multi_head_attention_forward``)."""
        location = self._location(None, _OWN_FRAMES)
        inputs = self._ids_of(args) + self._ids_of(list(kwargs.values())) if kwargs else self._ids_of(args)
        assign = self._ids.assign
        made = tuple([assign(tensor) for tensor in outputs])
        grad_fn = grad_fn_of(outputs[0])
        if len(self._prints) > 4096:
            self._prints.clear()
        raw = self._raw
        raw.append(
            ("op", name, location, "enabled", inputs, made,
             type(grad_fn).__name__ if grad_fn is not None else None, None, None, None, None)
        )  # fmt: skip
        event = len(raw) - 1
        if not inputs:
            self.births.note(outputs, event)
        if grad_fn is not None:
            self._tag(grad_fn, event, location, outputs, made)

    def _one_pass(self, name: str, args: Any, kwargs: dict[str, Any], result: torch.Tensor) -> None:
        location = self._location(None, _OWN_FRAMES)
        inputs = self._ids_of(args) + self._ids_of(list(kwargs.values())) if kwargs else self._ids_of(args)
        try:
            grad_fn = result.grad_fn
        except RuntimeError:  # a view whose history autograd cannot rebase (see `origin.grad_fn_of`)
            grad_fn = None
        # An output with a grad_fn is no hookless leaf: its reference need not read it again.
        made = self._ids.assign(result, False if grad_fn is not None else None)
        if len(self._prints) > 4096:
            self._prints.clear()
        raw = self._raw
        raw.append(
            ("op", name, location, "enabled", inputs, (made,),
             type(grad_fn).__name__ if grad_fn is not None else None, None, None, None, None)
        )  # fmt: skip
        event = len(raw) - 1
        if not inputs:
            self.births.note([result], event)
        if grad_fn is not None:
            self._lazy.note_new(grad_fn, event, location, made, result, bool(saved_names(grad_fn)))
