"""The ledger a student reads: each leaf's ``.grad`` and value over time, as named events at their lines.

Backward adds into ``.grad``; ``optimizer.zero_grad()``, ``p.grad = None``, ``p.grad.zero_()`` and
``p.grad.data.zero_()`` empty it; ``optimizer.step()`` and ``w -= lr * w.grad`` (under no_grad, or through
``.data``) change the leaf. The forward recorder tells the book about each ``.grad`` read, ``.grad``
assignment and in-place op (`gradviz.capture.ledgeredits`); the Tracer about each backward call and
optimizer step. Only small leaves (`SMALL` elements) get update entries, and past `HEAD_CALLS` calls only
the last few calls are kept, as raw reads: names are looked up when the ledger is read. The ledger is for
seeing numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.ledgeredits import SMALL, ForwardEdits
from gradviz.capture.ledgertail import ARRIVAL, HEAD_CALLS, LATER, PAST, TAIL_CALLS, Raw, Tail
from gradviz.capture.ledgervalues import loss_of, mark, nonzero, read, shown
from gradviz.capture.ledgerwords import step_how
from gradviz.capture.summary import Snapshot, snapshot
from gradviz.capture.tensormap import TensorMap
from gradviz.capture.tensorrefs import tensor_ref
from gradviz.model import BackwardCall, LedgerEntry, LedgerKind, Location, Value

__all__ = ["HEAD_CALLS", "SMALL", "TAIL_CALLS", "LedgerBook", "shown"]

#: Small leaves kept alive until the ledger is read, so an update after the last call is still seen.
KEPT = 64
#: At most this many entries are kept for the first calls (the first steps are the ones to read).
MAX_ENTRIES = 2000

LabelOf = Callable[[torch.Tensor], "str | None"]
#: The user's line now; given a frame, the line at or above it.
Where = Callable[..., "Location | None"]


class _Small:
    """A small leaf as the book last saw it: its values and `mark` then, its ``.grad`` after the last call."""

    __slots__ = ("grad_after", "mark", "ref", "value")

    def __init__(self, leaf: torch.Tensor) -> None:
        self.ref = tensor_ref(leaf)
        self.value: Snapshot | None = None
        self.mark: object = None
        self.grad_after: Value | Snapshot | None = None


def _fresh(slot: _Small, leaf: torch.Tensor) -> Snapshot:
    """A small leaf's values now, read again only when its `mark` moved since the slot's last read."""
    moved = mark(leaf)
    value = slot.value
    if value is None or slot.mark != moved:
        value = slot.value = read(leaf)
        slot.mark = moved
    return value


class LedgerBook(ForwardEdits):
    """Collects `LedgerEntry` items while tracing.

    Args:
        label_of: The user's name for a leaf, where known (asked again at the end for unnamed ones).
        where: The user's line right now.
    """

    def __init__(self, label_of: LabelOf, where: Where) -> None:
        self._label_of = label_of
        self._where = where
        self._raw: list[Raw] = []
        self._tail = Tail()  # past HEAD_CALLS: the last calls' raw reads
        self._grads = {}
        self._leaves = TensorMap()
        self._small: TensorMap = TensorMap()  # small leaf -> its `_Small`
        # The script's variables are gone before the ledger is read: a last manual step needs the leaf.
        self._kept: list[torch.Tensor] = []
        self._closed: tuple[LedgerEntry, ...] | None = None  # the entries, once the trace has ended
        self._by_ptr = {}
        self._stepping: list[tuple[torch.Tensor, _Small, Snapshot]] = []
        self.calls = 0
        self.in_step = False

    # ----- what the Tracer tells --------------------------------------------------------------------

    def _add(
        self,
        kind: LedgerKind,
        leaf: torch.Tensor | None,
        how: str,
        where: Location | None,
        before: Value | Snapshot | None,
        after: Value | Snapshot | None,
        loss: Value | Snapshot | None = None,
        captured: bool = True,
        call: int | None = None,
    ) -> None:
        call = self.calls if call is None else call
        ref = tensor_ref(leaf) if leaf is not None else None
        if call <= HEAD_CALLS:
            if len(self._raw) < MAX_ENTRIES:
                label = self._label_of(leaf) if leaf is not None else None
                self._raw.append((kind, ref, label, how, where, call, before, after, loss, captured))
            return
        self._tail.entry(self.calls, (kind, ref, LATER, how, where, call, before, after, loss, captured))

    def captured(self, call: BackwardCall, leaves: Sequence[torch.Tensor], roots: Sequence[Any]) -> None:
        """A captured call: one entry per leaf it reached, with ``.grad`` before and after."""
        with isolated():  # reading values is gradviz's own tensor work
            self._captured(call, leaves, roots)

    def _captured(self, call: BackwardCall, leaves: Sequence[torch.Tensor], roots: Sequence[Any]) -> None:
        self.calls = call.index
        loss = loss_of(roots)
        if call.api != "backward":  # torch.autograd.grad returns its gradients; no .grad changes
            self._add("backward", None, call.api, call.location, None, None, loss)
            return
        for node, leaf in zip(call.graph.leaves, leaves, strict=False):
            info = node.tensor
            if info is None or (info.grad_before == info.grad_after and call.error is not None):
                continue
            self.learn(leaf)
            if leaf.numel() <= SMALL:
                self._value_of(leaf)
                self._slot(leaf).grad_after = info.grad_after
            self._add("backward", leaf, call.api, call.location, info.grad_before, info.grad_after, loss)
            loss = None  # the loss once per call, on its first leaf
        if loss is not None:
            self._add("backward", None, call.api, call.location, None, None, loss)

    def counted(self, index: int, roots: Sequence[Any]) -> None:
        """A call past the capture budget: its loss (the caller is isolated)."""
        self.calls = index
        loss = loss_of(roots)
        if index > HEAD_CALLS:  # what _add keeps past the head, appended here (once per call)
            raw: Raw = ("backward", None, LATER, "backward", None, index, None, None, loss, False)
            self._tail.bucket(index).append(raw)
            return
        self._add("backward", None, "backward", None, None, None, loss, captured=False)

    def counted_arrivals(self, reached: Sequence[tuple[torch.Tensor, Any, bool, Any]]) -> None:
        """The leaves a counted call added into: (leaf, -, whether ``.grad`` held a gradient before,
        ``.grad`` after) each; small ones get entries."""
        calls = self.calls
        bucket = None
        for leaf, state, held, after in reached:
            if leaf.numel() > SMALL:
                continue
            slot = state.book  # the leaf's slot, kept on its ledger state: no lookup per call
            if slot is None:
                slot = state.book = self._slot(leaf)
            if calls <= HEAD_CALLS:
                self._arrival(leaf, held, after, slot)
                continue
            # Past the head: the entries are made if the call is among the last few (see _value_of).
            known = slot.value
            _fresh(slot, leaf)
            if bucket is None:
                bucket = self._tail.bucket(calls)
            bucket.append((ARRIVAL, slot.ref, held, slot.grad_after, after, (known, slot.value)))
            slot.grad_after = after

    def _arrival(self, leaf: torch.Tensor, held: bool, after: Value | Snapshot | None, slot: _Small) -> None:
        """A counted call added into a small leaf's ``.grad``: its entry, and a zeroing seen by its effect."""
        before, now = self._value_of(leaf, slot)
        if before is not None and now != before:  # updated since the last call: by hand, past the budget
            self._add("update", leaf, f"updated {PAST}", None, before, now, call=self.calls - 1)
        last = slot.grad_after
        if not held and last is not None and nonzero(last):
            self._add("zeroed", leaf, f"zeroed {PAST}", None, last, None)
            last = None
        self._add("backward", leaf, "backward", None, last if held else None, after, captured=False)
        slot.grad_after = after

    def _slot(self, leaf: torch.Tensor) -> _Small:
        slot: _Small | None = self._small.get(leaf)
        if slot is None:
            slot = self._small[leaf] = _Small(leaf)
        return slot

    def _value_of(self, leaf: torch.Tensor, slot: _Small | None = None) -> tuple[Snapshot | None, Snapshot]:
        """A small leaf's values when last read and now (remembered as the last read).

        Past `HEAD_CALLS`, values whose version counter and data address did not move are not read
        again: only the ledger's last calls are kept, and an update bumps the version (one through
        ``.data`` alone is then not seen).
        """
        slot = slot if slot is not None else self._slot(leaf)
        known = slot.value
        moved = mark(leaf)
        if known is not None and slot.mark == moved and self.calls > HEAD_CALLS:
            return known, known
        slot.value, slot.mark = read(leaf), moved
        return known, slot.value

    def _remember(self, leaf: torch.Tensor, value: Snapshot) -> None:
        slot = self._slot(leaf)
        slot.value, slot.mark = value, mark(leaf)

    def learn(self, leaf: torch.Tensor) -> None:
        """Remember a leaf, so in-place updates of it (or of its ``.data``) become entries."""
        if leaf not in self._leaves:
            self._leaves[leaf] = True
            self._by_ptr = {}
            if leaf.numel() <= SMALL and len(self._kept) < KEPT:
                self._kept.append(leaf)

    def slots(self, params: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, _Small]]:
        """Each small parameter with its slot, for `step_starting` (an optimizer's caller keeps them)."""
        return [(param, self._slot(param)) for param in params]

    def step_starting(self, params: Sequence[tuple[torch.Tensor, _Small]]) -> None:
        """Before ``optimizer.step()``: the small parameters' values (as `slots` gives them)."""
        self.in_step = True
        if len(self._raw) >= MAX_ENTRIES and self.calls <= HEAD_CALLS:
            self._stepping = []
            return
        if self.calls <= HEAD_CALLS:
            self._stepping = [(param, slot, self._value_of(param, slot)[1]) for param, slot in params]
            return
        stepping = self._stepping = []
        for param, slot in params:  # as _value_of past the head: values are read when they moved
            stepping.append((param, slot, _fresh(slot, param)))

    def step_done(self, frame: Any = None) -> None:
        """After ``optimizer.step()``: one update entry per small parameter (unchanged ones too: the loop
        table shows every step seen).

        Args:
            frame: Where to look up the user's line from (the hook's caller; by default, this call's).
        """
        self.in_step = False
        stepping, self._stepping = self._stepping, []
        if not stepping:
            return
        where = self._where(frame) if frame is not None else self._where()
        if self.calls > HEAD_CALLS:  # the values the step left: read once here, reused at the next call
            updates = []
            for param, slot, before in stepping:
                updates.append((slot.ref, before, _fresh(slot, param)))
            self._tail.step(self.calls, where, updates)
            return
        for param, slot, before in stepping:
            self._add("update", param, step_how(where), where, before, self._value_of(param, slot)[1])

    # ----- the result -------------------------------------------------------------------------------

    def entries(self) -> tuple[LedgerEntry, ...]:
        """The ledger so far, names learnt later filled in."""
        if self._closed is not None:
            return self._closed
        out = []
        for kind, ref, label, how, where, call, before, after, loss, captured in (
            *self._raw,
            *self._tail.raws(),
        ):
            leaf = ref() if ref is not None else None
            if label is LATER:
                label = self._label_of(leaf) if leaf is not None else None
            elif label is None and leaf is not None:
                label = self._label_of(leaf)
                if label is not None:
                    how = how.replace("p.grad", f"{label}.grad", 1).replace("p -=", f"{label} -=", 1)
            values = shown(before), shown(after), shown(loss)
            out.append(LedgerEntry(kind, label, how, where, call, *values, captured))
        return (*out, *self._since_last_call())

    def close(self) -> None:
        """The trace has ended: make the entries now, while the leaves kept for them still have their
        names, and let go of those leaves.

        Updates after the block are not the trace's, and a finished trace must not keep the user's tensors
        alive (their weak-reference callbacks would never fire, and a swap would be refused).
        """
        if self._closed is None:
            self._closed = self.entries()
        self._kept.clear()

    def _since_last_call(self) -> list[LedgerEntry]:
        """Small leaves updated after the last call that was followed (a last manual step, say)."""
        found = []
        for leaf, slot in list(self._small.items()):
            before, now = slot.value, snapshot(leaf)
            if before is not None and now != before and self.calls > 0:
                label = self._label_of(leaf)
                how = f"updated {PAST}"
                found.append(LedgerEntry("update", label, how, None, self.calls, before.value, now.value))
        return found
