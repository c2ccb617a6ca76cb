"""A graph node as the step pane shows it: its name, what it saved, where it sends vJ, and finding it."""

from __future__ import annotations

from gradviz.model import Graph, Node
from gradviz.render.tensortext import value_lines


def describe_node(node: Node) -> str:
    """A node as the step pane names it: ``MulBackward0 #1 (z)``.

    Args:
        node: A graph node.

    Returns:
        Name, id and the tensor's label where known.
    """
    label = node.tensor.label if node.tensor is not None else None
    return f"{node.name} #{node.id}" + (f" ({label})" if label else "")


def slot_targets(graph: Graph, node_id: int) -> dict[int, int]:
    """Where each ``next_functions`` slot of a node sends its vJ.

    Args:
        graph: The graph.
        node_id: The sending node.

    Returns:
        Slot position -> id of the receiving node (slots that need no gradient are absent).
    """
    return {slot: edge.target for edge in graph.edges if edge.source == node_id for slot in edge.slots}


def saved_lines(node: Node, show_values: bool = True) -> tuple[str, ...]:
    """The tensors a node saved in forward, one block per tensor, named as PyTorch names them.

    Args:
        node: A graph node.
        show_values: False to show shapes only.

    Returns:
        Lines such as ``self (y): [[1, 1], ...``, continuation lines indented under the value.
    """
    lines: list[str] = []
    for saved in node.saved:
        head = f"{saved.name} ({saved.label}): " if saved.label else f"{saved.name}: "
        body = value_lines(saved.value, show_values=show_values)
        lines.append(head + body[0])
        lines.extend(" " * len(head) + line for line in body[1:])
    return tuple(lines)


def find_node(graph: Graph, query: str) -> int | None:
    """The node a user means by ``3``, ``#3``, a grad_fn name or a tensor's name.

    Args:
        graph: The graph to search.
        query: What the user typed.

    Returns:
        The id of the first node matching (by id, then exact name or label, then a case-insensitive
        prefix of either), or None.
    """
    text = query.strip().removeprefix("#")
    if text.isdigit():
        return int(text) if int(text) < len(graph.nodes) else None
    lowered = text.lower()
    for exact in (True, False):
        for node in graph.nodes:
            names = [node.name, node.tensor.label if node.tensor is not None else None]
            for name in names:
                if name is None:
                    continue
                if (name == text) if exact else name.lower().startswith(lowered):
                    return node.id
    return None
