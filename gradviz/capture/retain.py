"""Running backward through the same graph twice: which nodes an earlier call freed, and why ``x + 2`` can.

Backward without ``retain_graph=True`` frees each node's saved tensors once the node has run. A second
call through the same nodes then fails at the first node that needs a freed tensor ("Trying to backward
through the graph a second time"); a graph whose nodes saved nothing (``(x + 2).sum()``: AddBackward0 and
SumBackward0 need only shapes) runs again without complaint, since nothing it needs was freed. Nodes are
matched across calls by the forward event that created them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gradviz.model import BackwardCall, Finding


def with_freed(call: BackwardCall, earlier: Sequence[BackwardCall]) -> tuple[BackwardCall, Finding | None]:
    """Mark the nodes of `call` that an earlier call ran without ``retain_graph``; explain a second run
    that worked.

    Args:
        call: A captured call, just recorded.
        earlier: The calls captured before it.

    Returns:
        The call with `Node.freed_by` set, and a note when it went through freed nodes and succeeded.
    """
    freed: dict[int, int] = {}
    for before in earlier:
        if before.retain_graph or before.error is not None:
            continue
        ran = {step.node for step in before.steps}
        for node in before.graph.nodes:
            if node.event is not None and node.id in ran:
                freed[node.event] = before.index
    if not freed:
        return call, None
    nodes = tuple(
        dataclasses.replace(node, freed_by=freed[node.event])
        if node.event is not None and node.event in freed and not node.is_accumulate_grad
        else node
        for node in call.graph.nodes
    )
    again = [node for node in nodes if node.freed_by is not None]
    if not again:
        return call, None
    call = dataclasses.replace(call, graph=dataclasses.replace(call.graph, nodes=nodes))
    if call.error is not None:
        return call, None
    first = again[0].freed_by
    names = ", ".join(dict.fromkeys(node.name for node in again))
    message = (
        f"Nothing saved, nothing freed: backward call {call.index} reran the graph of call {first} "
        f"without retain_graph=True, and that works because its nodes ({names}) saved no tensors for "
        f"backward. A graph whose nodes save tensors (x * x saves x) raises 'Trying to backward through "
        f"the graph a second time' instead."
    )
    return call, Finding(kind="retain_graph", message=message, location=call.location, call=call.index,
                         severity="note")  # fmt: skip
