"""A call past the budget: run, counted, and its effect on each followed leaf's ``.grad`` noted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradviz.capture.door import Part, UserCall
from gradviz.capture.isolation import isolated
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.ledgerbook import LedgerBook


def count_call(
    engine: UserCall, number: Callable[[], int], leaves: LeafLedger, book: LedgerBook, book_part: Part
) -> Any:
    """Run a call that is not captured, noting it in the ledger and in each followed leaf's arrivals.

    Args:
        engine: The user's call, to run through the engine.
        number: The call's number among all backward/grad calls, read once the engine returns.
        leaves: The leaves followed past the budget.
        book: The ledger of every step.
        book_part: The part of capture the ledger belongs to.

    Returns:
        What the engine returned.
    """
    # Each followed leaf's .grad is read before and after the engine (LeafLedger.follow).
    with isolated():  # reading each .grad is gradviz's own tensor work
        leaves.part.run(leaves.before_call)
    result = engine()
    index = number()
    with isolated():
        if book_part.is_open:
            book_part.run(lambda: book.counted(index, engine.args[0]))
        leaves.part.run(lambda: leaves.settle(index))  # the Judge reads it
    if not leaves.part.is_open:
        leaves.unfollow()
    return result
