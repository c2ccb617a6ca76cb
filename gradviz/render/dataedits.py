"""What a drawing says on a node whose saved tensor was edited through ``.data`` before backward read it."""

from __future__ import annotations

from gradviz.model import Node, Overlay, Value
from gradviz.render.values import format_value


def edit_lines(node: Node, unedited: tuple[Value | None, ...]) -> list[str]:
    """``forward used [1], backward used [100]`` per edited saved tensor, and the vJ without the edit.

    Args:
        node: A node of a captured call.
        unedited: Its step's `Step.unedited` (empty when not computed).

    Returns:
        Lines for the node's box; none when no saved tensor of it was edited.
    """
    pairs: dict[str, list[str]] = {}
    for saved in node.saved:
        if saved.forward_value is not None:
            used = (
                f"forward used {format_value(saved.forward_value)}, backward used {format_value(saved.value)}"
            )
            pairs.setdefault(used, []).append(saved.name)
    lines = [f".data edit of {', '.join(names)}: {used}" for used, names in pairs.items()]
    if lines and unedited:
        sent = " and ".join(format_value(value) for value in unedited if value is not None)
        lines.append(f"without the edit it would send {sent}")
    return lines


def overlay_lines(overlay: Overlay) -> list[str]:
    """For a ``.data`` edit that is a note: why it changed no gradient.

    Args:
        overlay: An overlay of a drawing.

    Returns:
        One line for a harmless ``.data`` edit, else none.
    """
    if overlay.kind != "data_edit" or overlay.severity != "note":
        return []
    return ["harmless: backward reads no saved copy of it,", "so the gradient is unchanged"]
