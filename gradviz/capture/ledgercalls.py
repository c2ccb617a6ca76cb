"""The ledger around the calls: optimizer steps through torch's global hooks, and each call's share."""

from __future__ import annotations

import dataclasses
import sys
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from gradviz.capture.door import Part
from gradviz.capture.isolation import isolating
from gradviz.capture.ledgerbook import SMALL, LedgerBook
from gradviz.capture.optimizers import StepCallback, params_of
from gradviz.model import BackwardCall, LedgerEntry


class StepWatch:
    """torch's global optimizer step pre- and post-hooks, telling the book each step's updates.

    One post-hook serves every watcher of a step: `also` (the Judge's, guarded by its own part) is called
    first, then the book is told, each fault switching off only its own part.

    Args:
        book: The ledger.
        part: The part of capture the hooks belong to (a fault switches them off).
        also: Called after each step before the book is told; it must not raise (a `Part.hook`).
    """

    def __init__(self, book: LedgerBook, part: Part, also: StepCallback | None = None) -> None:
        self._book = book
        self._part = part
        self._also = also
        self._handles: list[Any] = []
        # The optimizer of the last step, its parameter count and small parameters (the usual loop has one).
        self._last: tuple[weakref.ref[torch.optim.Optimizer], int, list[Any]] | None = None
        # Per optimizer: its parameter count when last looked at, and its small parameters then (with
        # their slots in the book).
        self._small: weakref.WeakKeyDictionary[torch.optim.Optimizer, tuple[int, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    def start(self) -> None:
        """Register the hooks."""
        self._handles = [
            register_optimizer_step_pre_hook(self._before),
            register_optimizer_step_post_hook(self._after),
        ]

    def stop(self) -> None:
        """Remove them."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        part = self._part  # what `Part.hook` does, inlined: this runs at every step
        if part.is_open:
            try:
                with isolating():  # finding the small parameters reads them: gradviz's own tensor work
                    self._book.step_starting(self._small_params(optimizer))
            except Exception as error:
                part.fault(error)

    def _small_params(self, optimizer: torch.optim.Optimizer) -> list[Any]:
        """The optimizer's parameters of at most `SMALL` elements with their slots (found again when their
        count moves)."""
        groups = optimizer.param_groups
        one = len(groups) == 1
        count = len(groups[0]["params"]) if one else sum(len(group["params"]) for group in groups)
        last = self._last
        if last is not None and last[0]() is optimizer and last[1] == count:
            return last[2]
        known = self._small.get(optimizer)
        if known is None or known[0] != count:
            small = [param for param in params_of(optimizer) if param.numel() <= SMALL]
            known = self._small[optimizer] = (count, self._book.slots(small))
        self._last = (weakref.ref(optimizer), count, known[1])
        return known[1]

    def _after(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        with isolating():  # one isolation for both: the guarded hook inside finds it on
            if self._also is not None:
                self._also(optimizer, args, kwargs)
            part = self._part
            if part.is_open:
                try:  # the user's line is looked up from torch's step wrapper, this hook's caller
                    self._book.step_done(sys._getframe(1))
                except Exception as error:
                    part.fault(error)


def with_ledger(calls: Sequence[BackwardCall], ledger: Sequence[LedgerEntry]) -> tuple[BackwardCall, ...]:
    """Give each captured call the ledger entries of its leaves since the previous captured call.

    Args:
        calls: The captured calls, in order.
        ledger: The whole ledger.

    Returns:
        The calls with `BackwardCall.ledger` set.
    """
    out = []
    previous = 0
    for call in calls:
        names = {leaf.tensor.label for leaf in call.graph.leaves if leaf.tensor is not None}
        own = tuple(
            entry for entry in ledger if entry.leaf in names and _belongs(entry, call.index, previous)
        )
        out.append(dataclasses.replace(call, ledger=own) if own else call)
        previous = call.index
    return tuple(out)


def _belongs(entry: LedgerEntry, index: int, previous: int) -> bool:
    """A call's own backward entries, and the zeroings and updates since the previous captured call."""
    return entry.call == index if entry.kind == "backward" else previous <= entry.call < index
