"""Where a failed backward call stopped, told from the nodes that finished, as the engine orders its work.

Most nodes get no pre-hook (only a post-hook), so the node that raised is the one that was ready to run
and did not finish. On one thread the engine runs, of the ready nodes, AccumulateGrad first, then the
one with the highest sequence number (the one made last in forward): the same choice is made here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch


def stopped_at(fns: Sequence[Any], done: Collection[int], inputs: Collection[int] = ()) -> int | None:
    """The node a failed call was running: ready (every node sending to it finished) but not finished.

    Args:
        fns: The grad_fn objects of the call's graph, by node id.
        done: Ids of the nodes that finished.
        inputs: Ids of the nodes whose gradients were asked for (empty: every node runs). They are never
            named: ``grad`` does not run them.

    Returns:
        Its id; None when no node, or more than one node on more than one device thread, could be it.
    """
    ids = {id(fn): node_id for node_id, fn in enumerate(fns)}
    waiting: set[int] = set()
    for node_id, fn in enumerate(fns):
        if node_id not in done:
            waiting.update(ids[id(next_fn)] for next_fn, _ in fn.next_functions if id(next_fn) in ids)
    ready = [node_id for node_id in range(len(fns)) if node_id not in done and node_id not in waiting]
    if inputs:  # the engine runs only what leads to them, and takes their gradients without running them
        needed = _reaching(fns, ids, inputs) - set(inputs)
        ready = [node_id for node_id in ready if node_id in needed]
    if len(ready) > 1 and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        return None  # device threads run their ready nodes side by side
    return max(ready, key=lambda node_id: _priority(fns[node_id]), default=None)


def _priority(fn: Any) -> tuple[bool, int]:
    return type(fn).__name__ == "AccumulateGrad", fn._sequence_nr()


def _reaching(fns: Sequence[Any], ids: dict[int, int], inputs: Collection[int]) -> set[int]:
    """The nodes from which one of `inputs` can be reached (the only ones the engine runs)."""
    senders: dict[int, list[int]] = {}
    for node_id, fn in enumerate(fns):
        for next_fn, _ in fn.next_functions:
            if id(next_fn) in ids:
                senders.setdefault(ids[id(next_fn)], []).append(node_id)
    reached = set(inputs)
    stack = list(inputs)
    while stack:
        for sender in senders.get(stack.pop(), ()):
            if sender not in reached:
                reached.add(sender)
                stack.append(sender)
    return reached
