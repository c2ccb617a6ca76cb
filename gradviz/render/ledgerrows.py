"""The ledger's rows, as every view of it lists them: one per event, and one per step of a training loop.

An event row is ``(line, what happened, tensor, before -> after)``: each backward call's ``.grad``
before and after, each zeroing and each update at its line (``w <- w - lr * w.grad`` when one learning
rate explains it). A training-loop row holds the loss and each small parameter's value after the update.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradviz.model import LedgerEntry, Nested, Value
from gradviz.render.values import format_number, format_value

#: Event rows shown before the rest are counted.
MAX_EVENTS = 40
#: Training-loop rows shown at the start and at the end.
FIRST_STEPS = 6
LAST_STEPS = 3

Row = tuple[str, str, str, str]
#: ``.grad`` emptied or zeroed past the capture budget, where the ledger saw only that it held nothing.
UNSEEN = "None or zeros"


def _line(entry: LedgerEntry) -> str:
    return str(entry.location.line) if entry.location is not None else ""


def _flat(values: Nested | None) -> list[float] | None:
    if values is None:
        return None
    if isinstance(values, tuple):
        out: list[float] = []
        for item in values:
            inner = _flat(item)
            if inner is None:
                return None
            out.extend(inner)
        return out
    if isinstance(values, bool | complex):
        return None
    return [float(values)]


def learning_rate(before: Value | None, after: Value | None, grad: Value | None) -> float | None:
    """The lr of ``w <- w - lr * grad`` when one number explains the update of every element.

    Args:
        before: The leaf's value before the update.
        after: Its value after.
        grad: Its ``.grad`` at the time.

    Returns:
        The learning rate, or None when the update is not plain gradient descent (momentum, Adam) or
        a value is not known.
    """
    old, new, g = (_flat(v.values) if v is not None else None for v in (before, after, grad))
    if old is None or new is None or g is None or not (len(old) == len(new) == len(g)):
        return None
    rates = [(o - n) / d for o, n, d in zip(old, new, g, strict=True) if d != 0]
    if not rates or any(not math.isclose(r, rates[0], rel_tol=1e-3, abs_tol=1e-9) for r in rates):
        return None
    return rates[0]


def event_rows(ledger: Sequence[LedgerEntry]) -> tuple[list[Row], str | None]:
    """One row per captured event: (line, what happened, tensor, before -> after).

    Args:
        ledger: The trace's ledger.

    Returns:
        Rows of four cells, at most `MAX_EVENTS`, and a line counting the rest (None if none).
    """
    rows: list[Row] = []
    grads: dict[str | None, Value | None] = {}
    for position, entry in enumerate(ledger):
        if entry.kind == "backward" and entry.leaf is None:  # a call's loss alone: the loop table has it
            continue
        if len(rows) == MAX_EVENTS:
            return rows, f"... {len(ledger) - position} more entries (in trace.json)"
        rows.append(_event_row(entry, grads))
    return rows, None


def _event_row(entry: LedgerEntry, grads: dict[str | None, Value | None]) -> Row:
    name = entry.leaf or "leaf"
    change = f"{format_value(entry.before)} -> {format_value(entry.after)}"
    if entry.kind == "backward":
        grads[entry.leaf] = entry.after
        loss = f", loss = {format_value(entry.loss)}" if entry.loss is not None else ""
        added = "  (added into .grad)" if entry.before is not None and not _zero(entry.before) else ""
        counted = " (counted)" if not entry.captured else ""
        if not entry.captured and entry.before is None:
            change = f"{UNSEEN} -> {format_value(entry.after)}"
        what = f"backward #{entry.call}{counted}{loss}"
        return (
            _line(entry),
            what,
            f"{name}.grad" if entry.leaf else "",
            change + added if entry.leaf else "",
        )
    if entry.kind == "zeroed":
        grads[entry.leaf] = entry.after
        if entry.location is None:  # seen by its effect only: emptied (None) or zeroed, either way
            change = f"{format_value(entry.before)} -> {UNSEEN}"
        return (_line(entry), entry.how, f"{name}.grad", change)
    rate = learning_rate(entry.before, entry.after, grads.get(entry.leaf))
    rule = f"  {name} <- {name} - {format_number(rate)} * {name}.grad" if rate is not None else ""
    return (_line(entry), entry.how, name, change + rule)


def _zero(value: Value) -> bool:
    return value.norm == 0.0 or (value.min == 0 and value.max == 0)


def loop_rows(ledger: Sequence[LedgerEntry]) -> tuple[list[str], list[list[str]]]:
    """The training loop: per backward call, its loss and each updated leaf's value after the update.

    Args:
        ledger: The trace's ledger.

    Returns:
        The column names and the rows (first `FIRST_STEPS`, a ``...`` row, the last `LAST_STEPS`);
        no rows when nothing was updated.
    """
    leaves: list[str] = []
    for entry in ledger:
        if entry.kind == "update" and entry.leaf is not None and entry.leaf not in leaves:
            leaves.append(entry.leaf)
    if not leaves:
        return [], []
    by_call: dict[int, dict[str, str]] = {}
    for entry in ledger:  # an update's call is the last call before it: its row
        if entry.kind == "backward":
            step = by_call.setdefault(entry.call, {"call": f"#{entry.call}", "loss": ""})
            if entry.loss is not None:
                step["loss"] = format_value(entry.loss)
        elif entry.kind == "update" and entry.leaf in leaves and entry.call in by_call:
            by_call[entry.call][entry.leaf] = format_value(entry.after)
    steps = [by_call[call] for call in sorted(by_call)]
    columns = ["call", "loss", *(f"{leaf} after" for leaf in leaves)]
    rows = [
        [step.get("call", ""), step.get("loss", ""), *(step.get(leaf, "") for leaf in leaves)]
        for step in steps
    ]
    if len(rows) > FIRST_STEPS + LAST_STEPS + 1:
        rows = [*rows[:FIRST_STEPS], ["...", "", *("" for _ in leaves)], *rows[-LAST_STEPS:]]
    return columns, rows


def entry_rows(ledger: Sequence[LedgerEntry]) -> list[tuple[LedgerEntry, Row]]:
    """Every entry with its row, as `event_rows` writes it, without a limit (a call's loss alone is left out).

    Args:
        ledger: The trace's ledger.

    Returns:
        ``(entry, (line, what happened, tensor, before -> after))`` in order; an update's row has its
        ``w <- w - lr * w.grad`` when one learning rate explains it.
    """
    grads: dict[str | None, Value | None] = {}
    return [
        (entry, _event_row(entry, grads))
        for entry in ledger
        if not (entry.kind == "backward" and entry.leaf is None)
    ]
