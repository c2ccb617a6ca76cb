"""The ledger's last calls past its head, kept as raw reads: the entries are built when the ledger is read.

A long loop past `HEAD_CALLS` keeps the entries of its last `TAIL_CALLS` calls only, so each call
records what it read (values and gradients as `Snapshot` or `Value`, the leaf's reference) and nothing
more; names, zeroings seen by their effect and updates seen between two calls are worked out at the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import torch

from gradviz.capture.ledgervalues import nonzero
from gradviz.capture.ledgerwords import step_how
from gradviz.capture.summary import Snapshot
from gradviz.capture.tensorrefs import TensorRef
from gradviz.model import LedgerKind, Location, Value

#: Entries of calls after this one are kept only for the last `TAIL_CALLS` calls (where training ended).
HEAD_CALLS = 100
TAIL_CALLS = 3

#: The label of an entry looked up when the ledger is read (its `how` already names the leaf).
LATER = "\0"
PAST = "(line not recorded: past --max-backward)"

Recorded = Value | Snapshot | None
Ref = TensorRef[torch.Tensor]
#: One entry as the book keeps it: kind, leaf, label, how, line, call, before, after, loss, captured.
Raw = tuple[
    LedgerKind, "Ref | None", "str | None", str, "Location | None", int, Recorded, Recorded, Recorded, bool
]

#: The tag of a raw arrival in a call's bucket (see `Tail.arrival`).
ARRIVAL = "arrival"
_STEP = "step"


class Tail:
    """The raw reads of the last `TAIL_CALLS` calls, one list per call."""

    def __init__(self) -> None:
        self._calls: deque[tuple[int, list[Any]]] = deque(maxlen=TAIL_CALLS)

    def bucket(self, call: int) -> list[Any]:
        """The raw reads of this call (a new call's list lets the oldest call kept drop out)."""
        calls = self._calls
        if not calls or calls[-1][0] != call:  # the first read of a call: the oldest call kept drops out
            calls.append((call, []))
        return calls[-1][1]

    def entry(self, call: int, raw: Raw) -> None:
        """An entry made in full (a loss, a zeroing or update seen on the timeline)."""
        self.bucket(call).append(raw)

    def step(self, call: int, where: Location | None, updates: list[tuple[Ref, Snapshot, Snapshot]]) -> None:
        """An ``optimizer.step()``: each small parameter's values before and after."""
        self.bucket(call).append((_STEP, where, updates))

    def raws(self) -> Iterator[Raw]:
        """The kept calls' entries, in order."""
        for call, bucket in self._calls:
            for item in bucket:
                if item[0] == ARRIVAL:
                    yield from _arrival_entries(call, *item[1:])
                elif item[0] == _STEP:
                    for leaf, before, after in item[2]:
                        yield (
                            "update",
                            leaf,
                            LATER,
                            step_how(item[1]),
                            item[1],
                            call,
                            before,
                            after,
                            None,
                            True,
                        )
                else:
                    yield item


def _arrival_entries(
    call: int,
    leaf: Ref,
    held: bool,
    last: Recorded,
    after: Recorded,
    values: tuple[Snapshot | None, Snapshot],
) -> Iterator[Raw]:
    before, now = values
    if before is not None and now != before:  # updated since the last call: by hand, past the budget
        yield ("update", leaf, LATER, f"updated {PAST}", None, call - 1, before, now, None, True)
    if not held and last is not None and nonzero(last):
        yield ("zeroed", leaf, LATER, f"zeroed {PAST}", None, call, last, None, None, True)
        last = None
    yield ("backward", leaf, LATER, "backward", None, call, last if held else None, after, None, False)
