"""The usual in-place op on a tensor autograd does not track, recorded in one pass.

BatchNorm's ``num_batches_tracked.add_(1)``, a running statistic, a counter: the written tensor has
``requires_grad`` False, so no graph is involved. With plain tensors in, grad mode on, no ``.data`` alias
about and no mode of the user's on either stack, `UntrackedWrites.untracked_write` does what the general
way (door, `UserCall`, `isolated` blocks) does for it, in the same order: the ledger's before/after hooks,
the version before, the edit mark when the write may reach a saved tensor, the op, then the same
``inplace`` event. A write that leaves the tensor tracked (``buf.add_(w)`` with ``w`` requiring grad) is
recorded by the general `_record`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradviz.capture import opkind
from gradviz.capture.fastop import (  # the same fast names as the one pass for ordinary ops
    _dispatch_modes,
    _function_modes,
    _grad_enabled,
    _inference_enabled,
    _Parameter,
    _plain_args,
    _Tensor,
)
from gradviz.capture.isolation import isolated, isolating
from gradviz.capture.lazyprints import LazyPrints
from gradviz.capture.tensor_ids import TensorIds

if TYPE_CHECKING:
    from gradviz.capture.ledgerbook import LedgerBook

#: An edit mark meaning "anything may have changed" (`forwardmode.ANY_TIME`, which imports this module).
_ANY_TIME = sys.maxsize

#: What `UntrackedWrites.untracked_write` returns when the call is not its kind: the general way takes it.
NOT_TAKEN: Any = object()


class UntrackedWrites:
    """One-pass recording of an in-place op on an untracked plain tensor (mixed into `ForwardRecorder`)."""

    _ids: TensorIds
    _lazy: LazyPrints
    _prints: dict[Any, Any]
    _alias_of: dict[int, Any]
    _inference: bool
    _raw: list[Any]
    _edit_mark: int
    _location: Callable[..., Any]
    _part: Any
    book: LedgerBook | None
    _ids_of: Callable[[Any], tuple[int, ...]]
    _op_fault: Callable[[str, Exception], None]
    _check_inference: Callable[[], None]
    _record: Callable[..., None]
    _mark: Callable[[int], None]

    def untracked_write(self, name: str, func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """Run and record an in-place op on a plain tensor autograd does not track, or return `NOT_TAKEN`.

        Args:
            name: The op's timeline name (the second of `fastop.op_names`).
            func: The user's call.
            args: Its positional arguments; the first is the tensor written.
            kwargs: Its keyword arguments.

        Returns:
            The user's result; `NOT_TAKEN` (the call not made) when the general way must take it.
        """
        target = args[0] if args else None
        kind = type(target)
        if (
            (kind is not _Tensor and kind is not _Parameter)
            or self._alias_of
            or self._inference
            or self._lazy.eager
            or not _grad_enabled()
            or _inference_enabled()
            or _function_modes()  # a user's mode below ours would see gradviz's reads (requires_grad)
            or _dispatch_modes()
            or not _plain_args(args)
            or (kwargs and ("out" in kwargs or not _plain_args(kwargs.values())))
            or target.requires_grad  # type: ignore[union-attr]
        ):
            return NOT_TAKEN
        book, token = self.book, None
        try:
            if book is not None:
                try:
                    with isolating():
                        token = book.before_inplace(name, args, sys._getframe(1))
                except Exception as error:
                    self._op_fault(name, error)
            version = target._version  # type: ignore[union-attr]
            # Maybe an alias of .data made before tracing: only a write to a saved tensor's memory matters.
            if self._edit_mark != _ANY_TIME and self._lazy.may_touch(target):  # type: ignore[arg-type]
                self._mark(len(self._raw))
        except Exception as error:  # gradviz's own fault: the timeline stops, the user's call proceeds
            self._part.fault(error)
            return func(*args, **kwargs)
        result = func(*args, **kwargs)  # the user's exception, if any, is theirs, unchanged
        try:
            if (result is target or result is None) and not target.requires_grad:  # type: ignore[union-attr]
                self._one_write(name, args, kwargs, target, version)
            else:  # the write made it tracked (a value that requires grad went in): the general record
                with isolated():
                    self._check_inference()
                    self._record(opkind.INPLACE, name, args, kwargs, result, target, version)
        except Exception as error:  # this op's event is lost; the op itself is done
            self._op_fault(name, error)
        if token:
            try:
                with isolated():
                    book.after_inplace(token)  # type: ignore[union-attr]
            except Exception as error:
                self._op_fault(name, error)
        return result

    def _one_write(self, name: str, args: Any, kwargs: dict[str, Any], target: Any, version: int) -> None:
        """The ``inplace`` event `_record` makes for this write, made directly."""
        location = self._location()
        inputs = self._ids_of(args) + self._ids_of(list(kwargs.values())) if kwargs else self._ids_of(args)
        made = self._ids.assign(target)
        if len(self._prints) > 4096:
            self._prints.clear()
        self._raw.append(
            ("inplace", name, location, "enabled", inputs, (made,), None, version, target._version, None,
             None)
        )  # fmt: skip
