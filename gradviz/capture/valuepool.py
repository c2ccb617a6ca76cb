"""Equal small summaries kept once while a tracer runs: the pool `summarize` shares its `Value`s through."""

from __future__ import annotations

from gradviz.model import Value

#: One pool per tracer running: equal small-tensor summaries are kept once (a leaf's ``.grad`` after one
#: call is its ``.grad`` before the next; ReLU networks repeat whole gradients). Records are frozen, so
#: sharing is safe; -0.0 and 0.0 count as equal, as they do in torch.
_pools: list[dict[Value, Value]] = []


def share_values() -> dict[Value, Value]:
    """Start keeping equal small summaries once, until `stop_sharing` (a tracer's lifetime).

    Returns:
        The pool, to hand to `stop_sharing`.
    """
    pool: dict[Value, Value] = {}
    _pools.append(pool)
    return pool


def stop_sharing(pool: dict[Value, Value]) -> None:
    """Stop using a pool that `share_values` made (the summaries already shared stay as they are)."""
    for position, running in enumerate(_pools):
        if running is pool:
            del _pools[position]
            break
    pool.clear()


def shared(value: Value) -> Value:
    """`value`, or an equal summary made earlier while the same tracer runs (see `share_values`)."""
    return _pools[-1].setdefault(value, value) if _pools else value
