"""The ledger as a teacher shows it: each leaf's ``.grad`` and value over time, as text or a DOT table.

Two parts: the events (every backward call's ``.grad`` before and after, each zeroing and each update at
its line), then, when the leaves were updated, the training loop, one row per step: the loss and each
small parameter's value after the update, so a linear regression is seen converging.
"""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from gradviz.model import LedgerEntry, Trace, Value
from gradviz.render.labels import small, text
from gradviz.render.ledgerrows import Row, entry_rows, event_rows, learning_rate, loop_rows
from gradviz.render.style import FONT
from gradviz.render.values import format_value

__all__ = [
    "Row",
    "entry_rows",
    "event_rows",
    "learning_rate",
    "ledger_lines",
    "loop_rows",
    "loop_summary",
    "to_ledger_dot",
    "to_ledger_text",
    "zeroing_before",
    "zeroing_text",
]


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
    calls = trace.backward_calls
    # Backward from two lines (a GAN's critic and generator, MAML's inner and outer loss): their losses
    # are not one quantity, and a trend from the first to the last would mix them.
    sites = {(call.location.file, call.location.line) for call in trace.backwards if call.location}
    over = f"over {calls} call{'s' * (calls != 1)}"
    loss = (
        f"loss {format_value(losses[0])} -> {format_value(losses[-1])} {over}; "
        if losses and len(sites) <= 1
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
