"""The HTML player's ledger panel: each leaf's ``.grad`` and value around one backward call, revealed in time.

The same rows as ``ledger.txt`` and the TUI's ledger view (`gradviz.render.ledger`), placed in time
relative to the page's call: what happened before it shows from the start (the ``.grad`` the call
will add into, the zeroings and updates between calls, at their line); the call's own ``.grad``
changes appear at the step where the leaf's AccumulateGrad runs; what the script did right after the
call (``optimizer.step()``, ``w <- w - lr * w.grad``) at the last step; the rest of the run stays
folded away until then, so the page never gives an answer away ahead of its step.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from gradviz.model import BackwardCall, LedgerEntry
from gradviz.render.ledger import Row, entry_rows, loop_rows

__all__ = ["ledger_panel", "reveal_steps"]

#: Rows of what happened before the call kept in the page (the latest ones), and of the rest of the run.
MAX_ROWS = 40
HEADER = ("line", "event", "tensor", "before -> after")
PAST, THIS, NEXT, LATER = "past", "this", "next", "later"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _last_step(call: BackwardCall) -> int:
    """The page's last step: its recorded steps (a failed call shows the node that raised there too)."""
    return len(call.steps)


def _leaf_steps(call: BackwardCall) -> dict[str, int]:
    """The step at which each leaf's AccumulateGrad ran in this call, by the leaf's name."""
    steps: dict[str, int] = {}
    for number, step in enumerate(call.steps, start=1):
        if 0 <= step.node < len(call.graph.nodes):
            node = call.graph.nodes[step.node]
            if node.is_accumulate_grad and node.tensor is not None and node.tensor.label:
                steps.setdefault(node.tensor.label, number)
    return steps


def _when(entry: LedgerEntry, index: int) -> str:
    """Where an entry lies in time from call `index`: before it, in it, right after it, or later."""
    if entry.kind == "backward":
        return PAST if entry.call < index else THIS if entry.call == index else LATER
    # A zeroing's or an update's `call` counts the calls that had run before it.
    return PAST if entry.call < index else NEXT if entry.call == index else LATER


def reveal_steps(call: BackwardCall, ledger: Sequence[LedgerEntry]) -> list[tuple[Row, int | None]]:
    """Each ledger row with the step of this call's page from which it shows.

    Args:
        call: The page's backward call.
        ledger: The trace's whole ledger.

    Returns:
        ``(row, step)``: 0 for what happened before the call; the step where the leaf's AccumulateGrad
        ran for the call's own ``.grad`` changes (the last step when it did not run); the last step for
        what came right after the call; None for the rest of the run (shown, folded, after the last step).
    """
    total = _last_step(call)
    leaf_steps = _leaf_steps(call)
    revealed: list[tuple[Row, int | None]] = []
    for entry, row in entry_rows(ledger):
        when = _when(entry, call.index)
        if when == PAST:
            revealed.append((row, 0))
        elif when == THIS:
            revealed.append((row, leaf_steps.get(entry.leaf or "", total)))
        elif when == NEXT:
            revealed.append((row, total))
        else:
            revealed.append((row, None))
    return revealed


def _row(cells: Sequence[str], step: int | None) -> str:
    shown = f' data-reveal="{step}"' + (" hidden" if step else "") if step is not None else ""
    return f"<tr{shown}>" + "".join(f'<td class="v">{_esc(cell)}</td>' for cell in cells) + "</tr>"


def _table(header: Sequence[str], rows: Sequence[str], css: str) -> str:
    head = "<tr>" + "".join(f"<th>{_esc(cell)}</th>" for cell in header) + "</tr>"
    return f'<table class="{css}">{head}{"".join(rows)}</table>'


def _note_row(text: str, columns: int) -> str:
    return f'<tr><td class="note" colspan="{columns}">{_esc(text)}</td></tr>'


def _loop(call: BackwardCall, ledger: Sequence[LedgerEntry], total: int) -> tuple[str, str]:
    """The training-loop table: calls up to this one (this call's row at the last step), and the rest."""
    columns, rows = loop_rows(ledger)
    if not rows:
        return "", ""
    now: list[str] = []
    later: list[str] = []
    for row in rows:
        number = int(row[0][1:]) if row[0].startswith("#") else None
        if number is not None and number < call.index:
            now.append(_row(row, 0))
        elif number == call.index:
            now.append(_row(row, total))  # the values after the update that followed this call
        else:
            later.append(_row(row, None))
    title = "<h3>training loop: each call's loss and the values after the update that followed</h3>"
    shown = title + _table(columns, now, "ledger loop") if now else ""
    rest = title + _table(columns, later, "ledger loop") if later else ""
    return shown, rest


def ledger_panel(call: BackwardCall, ledger: Sequence[LedgerEntry]) -> str:
    """The ledger section of a call's page, or ``""`` when the trace has no ledger.

    Args:
        call: The page's backward call.
        ledger: The trace's whole ledger (`Trace.ledger`).

    Returns:
        HTML: the events table (rows carry ``data-reveal``, the step from which they show), the
        training loop up to this call, and the rest of the run folded in a ``<details>`` shown at the
        last step.
    """
    revealed = reveal_steps(call, ledger)
    if not revealed:
        return ""
    total = _last_step(call)
    past = [row for row, step in revealed if step == 0]
    rows = []
    if len(past) > MAX_ROWS:
        rows.append(_note_row(f"... {len(past) - MAX_ROWS} earlier entries (in trace.json)", 4))
    rows.extend(_row(row, 0) for row in past[-MAX_ROWS:])
    rows.extend(_row(row, step) for row, step in revealed if step)
    later = [row for row, step in revealed if step is None]
    loop_now, loop_later = _loop(call, ledger, total)
    parts = [
        '<section id="ledger"><h2>Ledger: each leaf\'s .grad and value, in the order things happened</h2>',
        '<p class="note">Rows before this call show from the start; its own .grad changes appear when '
        "the leaf's AccumulateGrad runs, and what the script did next at the last step.</p>",
        _table(HEADER, rows, "ledger events"),
        loop_now,
    ]
    if later or loop_later:
        more = [_row(row, None) for row in later[:MAX_ROWS]]
        if len(later) > MAX_ROWS:
            more.append(_note_row(f"... {len(later) - MAX_ROWS} more entries (in trace.json)", 4))
        table = _table(HEADER, more, "ledger later") if more else ""
        parts.append(
            f'<details class="at-end" id="ledger-rest" hidden><summary>The rest of the run: {len(later)} '
            f"more ledger entries after this call</summary>{table}{loop_later}</details>"
        )
    parts.append("</section>")
    return "".join(parts)
