"""The timeline's ``.grad`` side: reads, assignments and in-place ops told to the ledger, and reads of a
non-leaf's ``.grad`` (torch warns; the timeline says where)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture import opkind
from gradviz.capture.door import UserCall
from gradviz.capture.isolation import isolated
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.timeline import TimelineMixin
from gradviz.model import GradMode


def _warns_on_grad(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor.grad`` makes torch warn: a non-leaf that does not retain its grad."""
    with isolated():
        return tensor.grad_fn is not None and not tensor.retains_grad


class GradAccess(TimelineMixin):
    """``.grad`` reads and writes, and in-place ops, on the timeline (mixed into `ForwardRecorder`)."""

    book: LedgerBook | None

    def _op(self, code: int, name: str, call: UserCall) -> Any:
        raise NotImplementedError

    def _op_fault(self, op: str, error: Exception) -> None:
        raise NotImplementedError

    def _ids_of(self, values: Sequence[Any]) -> tuple[int, ...]:
        raise NotImplementedError

    def _grad_mode(self) -> tuple[GradMode, str | None]:
        raise NotImplementedError

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
