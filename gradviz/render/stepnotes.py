"""The TUI step pane's notes on a node from the ledger, ``.data`` edits and retain_graph."""

from __future__ import annotations

from gradviz.model import BackwardCall, Node, Step
from gradviz.render.dataedits import edit_lines
from gradviz.render.ledger import ledger_lines
from gradviz.render.retain import retain_lines


def step_notes(call: BackwardCall, node: Node, record: Step) -> list[tuple[str, tuple[str, ...]]]:
    """(heading, lines) for what the step pane adds about this node, in order; empty when nothing.

    Args:
        call: The call shown.
        node: The node that ran at this step.
        record: Its step.

    Returns:
        A leaf's zeroing before the call; an op node's edited saved tensors and the vJ without the edit;
        whether an earlier call freed its saved tensors.
    """
    notes: list[tuple[str, tuple[str, ...]]] = []
    if node.is_accumulate_grad and node.tensor is not None:
        zeroed = ledger_lines(call.ledger, node.tensor.label, node.tensor.grad_before)
        if zeroed:
            notes.append(("Before this call", tuple(zeroed)))
        return notes
    edited = edit_lines(node, record.unedited)
    if edited:
        notes.append((".data edit of a saved tensor", tuple(edited)))
    freed = retain_lines(node, call, True) if node.freed_by is not None else []  # the drawing says the rest
    if freed:
        notes.append(("retain_graph", tuple(freed)))
    return notes
