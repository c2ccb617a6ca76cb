"""The words of the accumulation findings the leaf ledger makes: one warning per update, one note per run."""

from __future__ import annotations

from collections.abc import Sequence

from gradviz.capture.wording import at
from gradviz.model import Finding, Location

#: Leaves named in one finding before the rest are counted.
NAMED = 6


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def carried_warning(
    names: Sequence[str],
    first_call: int | None,
    by: str,
    where: Location | None,
    label: str | None,
    *,
    by_hand: bool = False,
) -> Finding:
    """The warning: an update applied gradients carried over from before the previous update.

    Args:
        names: The ``.grad``s concerned (``fc1.weight.grad``).
        first_call: The backward call that added into them after an update, where known.
        by: What made the update (``optimizer.step() at train.py:30``), or with `by_hand`, when the change
            was seen (``before backward call 3 at train.py:28``).
        where: Its line.
        label: The leaf's name, when there is one leaf.
        by_hand: The leaves changed without an ``optimizer.step()`` (a manual or ``.data`` update, an EMA),
            which may or may not have read ``.grad``.

    Returns:
        An ``accumulation`` warning.
    """
    one = len(names) == 1
    was, it, leaf = ("was", "it", "the leaf") if one else ("were", "they", "the leaves")
    since = ""
    if first_call is not None:
        since = f" (backward call {first_call} added into {'it' if one else 'them'} after an update)"
    held = f"{_shown(names)} {was} never zeroed between two updates: {it} still held gradients from before"
    if by_hand:
        them = "it" if one else "them"
        message = (
            f"{held} the previous update{since} when {leaf} changed again without an optimizer.step() "
            f"(seen {by}). If that update reads .grad, it applied the sum of old and new gradients: zero "
            f".grad once per step, before backward(). If it does not (an EMA or teacher update), backward "
            f"should not reach {them} at all: run that forward under torch.no_grad() or detach its output."
        )
    else:
        message = (
            f"{held} the previous update{since} when {by} changed {leaf} again, so that update applied the "
            f"sum of old and new gradients. Call optimizer.zero_grad() (or set .grad = None) once per step, "
            f"before backward()."
        )
    return Finding(kind="accumulation", message=message, location=where, label=label, count=len(names))


def summed_note(names: Sequence[str], calls: Sequence[int], where: Location | None) -> Finding:
    """The note: backward calls that added into a ``.grad`` with no update in between (accumulation).

    Args:
        names: The ``.grad``s the first such call added into.
        calls: Every such call.
        where: The first one's line.

    Returns:
        An ``accumulation`` note.
    """
    more = f" ({len(calls)} calls did so)" if len(calls) > 1 else ""
    message = (
        f"Backward call {calls[0]}{at(where)} added into {_shown(names)}, which already held a gradient, "
        f"with no update in between: gradient accumulation, the gradients are summed until the next "
        f"update{more}."
    )
    return Finding(
        kind="accumulation", message=message, location=where, call=calls[0], severity="note", count=len(calls)
    )
