"""What a drawing says about saved tensors that backward freed (``retain_graph=False``)."""

from __future__ import annotations

from gradviz.model import BackwardCall, Node


def retain_lines(node: Node, call: BackwardCall | None, done: bool) -> list[str]:
    """Lines for an op node's box about its saved tensors being freed.

    Args:
        node: An op node.
        call: The call drawn (None for a lone graph).
        done: Whether the node has run at the step drawn.

    Returns:
        ``saved tensors freed by backward call 3 (no retain_graph)`` for a node an earlier call ran;
        ``saved tensors freed after it ran (retain_graph=False)`` (or ``kept``) for one this call ran;
        or nothing.
    """
    if call is None or node.is_accumulate_grad:
        return []
    if node.freed_by is not None:
        before = f"ran before in backward call {node.freed_by} (no retain_graph)"
        if call.error is None:
            return [before, "it saved no tensors, so nothing it needs was freed"]
        if call.error.node == node.id:
            return [
                f"its saved tensors were freed by backward call {node.freed_by},",
                "which ran without retain_graph=True",
            ]
        return [before]
    if done and node.saved and call.error is None:
        if call.retain_graph:
            return ["saved tensors kept (retain_graph=True): another backward can run"]
        return ["saved tensors freed after it ran (retain_graph=False)"]
    return []
