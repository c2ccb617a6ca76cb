"""The ledger as a teacher shows it: each leaf's ``.grad`` and value over time, as text or a DOT table.

Two parts: the events (every backward call's ``.grad`` before and after, each zeroing and each update at
its line), then, when the leaves were updated, the training loop, one row per step: the loss and each
small parameter's value after the update, so a linear regression is seen converging.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import graphviz

from gradviz.model import LedgerEntry, Nested, Trace, Value
from gradviz.render.labels import small, text
from gradviz.render.style import FONT
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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in (header, *rows)
    ]


def to_ledger_text(trace: Trace) -> str:
    """The ledger as plain text (``ledger.txt``, the TUI's ledger view).

    Args:
        trace: What was captured.

    Returns:
        Lines of text ending with a newline; empty when the ledger is.
    """
    if not trace.ledger:
        return ""
    lines = ["ledger: each leaf's .grad and value, in the order things happened"]
    rows, more = event_rows(trace.ledger)
    lines.extend(_table(("line", "event", "tensor", "before -> after"), rows))
    if more is not None:
        lines.append(f"  {more}")
    columns, steps = loop_rows(trace.ledger)
    if steps:
        lines.append("")
        lines.append(
            "training loop: the loss of each backward call, and the values after the update that followed"
        )
        lines.extend(_table(columns, steps))
    return "\n".join(lines) + "\n"


def to_ledger_dot(trace: Trace) -> str:
    """The ledger as a DOT graph of one table per part, for ``ledger.svg``.

    Args:
        trace: What was captured.

    Returns:
        DOT source; the same text for the same trace.
    """
    events, more = event_rows(trace.ledger)
    if more is not None:
        events.append(("", more, "", ""))
    parts = [_html_table(("line", "event", "tensor", "before -> after"), events, "ledger")]
    columns, rows = loop_rows(trace.ledger)
    if rows:
        parts.append(_html_table(columns, rows, "training loop"))
    dot = graphviz.Digraph(
        name="ledger", node_attr={"shape": "plaintext", "fontname": FONT, "fontsize": "11"}
    )
    for index, label in enumerate(parts):
        dot.node(f"t{index}", label)
    if len(parts) > 1:
        dot.edge("t0", "t1", style="invis")
    source: str = dot.source
    return source


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> str:
    head = "".join(f'<td align="left"><b>{text(cell)}</b></td>' for cell in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td align="left">{small(cell, mono=True, color="black") if cell else " "}</td>' for cell in row
        )
        + "</tr>"
        for row in rows
    )
    caption = f'<tr><td colspan="{len(header)}" align="left"><b>{text(title)}</b></td></tr>'
    frame = '<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
    table = f"{frame}{caption}<tr>{head}</tr>{body}</table>"
    return f"<{table}>"


def zeroing_before(entries: Sequence[LedgerEntry], leaf: str | None) -> LedgerEntry | None:
    """The last zeroing of this leaf's ``.grad`` among a call's entries (before the call), if any.

    Args:
        entries: A call's `BackwardCall.ledger`.
        leaf: The leaf's name.

    Returns:
        The entry, or None.
    """
    found = None
    for entry in entries:
        if entry.kind == "zeroed" and entry.leaf == leaf and leaf is not None:
            found = entry
    return found


def zeroing_text(entry: LedgerEntry) -> str:
    """``zeroed at line 11 by w.grad.zero_()``."""
    where = f" at line {entry.location.line}" if entry.location is not None else ""
    return f"zeroed{where} by {entry.how}"


def loop_summary(trace: Trace) -> str | None:
    """One line for the summary: the loss and the updated leaves from the first step to the last.

    Args:
        trace: What was captured.

    Returns:
        ``training loop: loss 3.956 -> 8.4e-13 over 200 calls; w [0] -> [3], ... (ledger.txt)``, or None
        when no leaf was updated.
    """
    losses = [entry.loss for entry in trace.ledger if entry.kind == "backward" and entry.loss is not None]
    first: dict[str, Value | None] = {}
    last: dict[str, Value | None] = {}
    seen = 0
    for entry in trace.ledger:
        if entry.kind == "update" and entry.leaf is not None:
            first.setdefault(entry.leaf, entry.before)
            last[entry.leaf] = entry.after
            seen = entry.call
    if not last:
        return None
    until = f" (last update seen after call {seen})" if seen < trace.backward_calls else ""
    moved = ", ".join(
        f"{leaf} {format_value(first[leaf])} -> {format_value(last[leaf])}" for leaf in list(last)[:4]
    )
    more = ", ..." if len(last) > 4 else ""
    loss = (
        f"loss {format_value(losses[0])} -> {format_value(losses[-1])} over {trace.backward_calls} calls; "
        if losses
        else ""
    )
    return f"training loop: {loss}{moved}{more}{until} (ledger.txt)"


def ledger_lines(entries: Sequence[LedgerEntry], leaf: str | None, before: Value | None) -> list[str]:
    """What a leaf's box in a call's drawing says about its ``.grad`` before the call, from the ledger.

    Args:
        entries: The call's `BackwardCall.ledger`.
        leaf: The leaf's name.
        before: Its ``.grad`` when the call started.

    Returns:
        ``["zeroed at line 11 by w.grad.zero_()", "grad before: [0, 0, 0]"]``, or nothing.
    """
    zeroed = zeroing_before(entries, leaf)
    if zeroed is None:
        return []
    return [zeroing_text(zeroed), f"grad before: {format_value(before)}"]


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
