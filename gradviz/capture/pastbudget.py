"""A call past the budget: run, counted, and its effect on each followed leaf's ``.grad`` noted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradviz.capture.door import Part, UserCall
from gradviz.capture.isolation import isolating
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.ledgerbook import LedgerBook

if TYPE_CHECKING:
    from gradviz.capture.callrouting import CallRouting


def count_call(
    engine: UserCall, routing: CallRouting, leaves: LeafLedger, book: LedgerBook, book_part: Part
) -> Any:
    """Run a call that is not captured, noting it in the ledger and in each followed leaf's arrivals.

    Each part's work runs as `Part.run` would run it (a fault switches that part off), inlined: this runs
    at every step of a long loop.

    Args:
        engine: The user's call, to run through the engine.
        routing: Whose ``backward_calls`` numbers the call, read once the engine returns (a backward
            inside it, a hook's, is counted first).
        leaves: The leaves followed past the budget.
        book: The ledger of every step.
        book_part: The part of capture the ledger belongs to.

    Returns:
        What the engine returned.
    """
    part = leaves.part
    if part.is_open:
        with isolating():  # reading each .grad is gradviz's own tensor work
            try:
                leaves.before_call()
            except Exception as error:
                part.fault(error)
    try:
        result = engine()
    except BaseException:
        try:  # the user's error goes on unchanged; the leaves noted for the call are let go
            leaves.failed()
        except Exception as error:
            part.fault(error)
        raise
    index = routing.backward_calls
    with isolating():
        if book_part.is_open:
            try:
                book.counted(index, engine.args[0])
            except Exception as error:
                book_part.fault(error)
        if part.is_open:
            try:
                leaves.settle(index)  # the Judge reads it
            except Exception as error:
                part.fault(error)
    if not part.is_open:
        leaves.unfollow()
    return result
