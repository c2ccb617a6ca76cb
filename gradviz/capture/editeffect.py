"""What a ``.data`` edit of a saved tensor changed: the values forward used and backward used, and the vJ
the node would have sent without the edit.

The forward recorder keeps an exact copy of each small saved tensor (`Fingerprint.exact`). Just before
backward runs a node whose saved tensor was edited, the copy is written back through ``.data`` (which,
unlike an in-place op, leaves ``_version`` alone), the node is called on the same v, and the edited
values are put back, so backward itself runs exactly as it would have without gradviz.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gradviz.capture.jacobian import is_callable_node
from gradviz.capture.saved import Fingerprint
from gradviz.capture.summary import summarize, summarize_optional
from gradviz.model import BackwardCall, Value

#: The vJ without the edit is computed only for nodes whose v has at most this many elements.
MAX_NUMEL = 100


@dataclass(frozen=True, slots=True)
class EditEffect:
    """One node's edited saved tensors and what the edit changed.

    Attributes:
        forward: Per saved name, the value forward saved (``{"self": [1]}``).
        backward: Per saved name, the value backward used (``{"self": [100]}``).
        sent: The vJ the node sends with the edited values, per ``next_functions`` slot (None if not
            computed).
        unedited: The vJ it would have sent without the edit (None if not computed).
    """

    forward: dict[str, Value]
    backward: dict[str, Value]
    sent: tuple[Value | None, ...] | None = None
    unedited: tuple[Value | None, ...] | None = None


def effect_of(
    grad_fn: Any,
    edited: Sequence[tuple[str, torch.Tensor, Fingerprint]],
    grad_outputs: Sequence[torch.Tensor | None] | None,
) -> EditEffect | None:
    """The effect of the edits of one node's saved tensors, when every edited one was copied exactly.

    Args:
        grad_fn: The node, just before it runs.
        edited: Its edited saved tensors: (saved name, the tensor backward will read, its fingerprint).
        grad_outputs: The v the engine gives the node (None: the vJ is not computed).

    Returns:
        The effect, or None when a fingerprint is not an exact copy (a large tensor).
    """
    if not edited or not all(print_.exact for _, _, print_ in edited):
        return None
    forward = {name: summarize(print_.contents[0]) for name, _, print_ in edited}
    backward = {name: summarize(tensor.detach()) for name, tensor, _ in edited}
    if grad_outputs is None or not _can_call(grad_fn, grad_outputs):
        return EditEffect(forward, backward)
    with torch.no_grad():
        sent = _call(grad_fn, grad_outputs)
        kept = [(tensor, tensor.detach().clone()) for _, tensor, _ in edited]
        try:
            for _, tensor, print_ in edited:
                tensor.data.copy_(print_.contents[0])  # through .data: _version is left as it is
            unedited = _call(grad_fn, grad_outputs)
        finally:
            for tensor, values in reversed(kept):
                tensor.data.copy_(values)
    return EditEffect(forward, backward, sent, unedited)


def _can_call(grad_fn: Any, grad_outputs: Sequence[torch.Tensor | None]) -> bool:
    return (
        is_callable_node(grad_fn)
        and all(grad is not None for grad in grad_outputs)
        and sum(grad.numel() for grad in grad_outputs if grad is not None) <= MAX_NUMEL
    )


def _call(grad_fn: Any, grad_outputs: Sequence[torch.Tensor | None]) -> tuple[Value | None, ...]:
    result = grad_fn(*grad_outputs)
    items = tuple(result) if isinstance(result, tuple | list) else (result,)
    return tuple(summarize_optional(item) for item in items)


def shown(value: Value | None) -> str:
    """A value in a sentence: ``[1, 2]`` when small, ``a tensor of shape [3, 4]`` otherwise."""
    if value is None:
        return "None"
    if value.values is None or value.numel > 8:
        return f"a tensor of shape {list(value.shape)}"
    return _nested(value.values)


def _nested(values: Any) -> str:
    if isinstance(values, tuple):
        return "[" + ", ".join(_nested(item) for item in values) + "]"
    if isinstance(values, float) and values == int(values) and abs(values) < 1e15:
        return str(int(values))
    return f"{values:.4g}" if isinstance(values, float) else str(values)


def with_effects(call: BackwardCall, effects: Mapping[int, EditEffect]) -> BackwardCall:
    """The call with each edited saved tensor's forward value and each affected step's vJ without the edit.

    Args:
        call: A captured call.
        effects: By node id, what the edits of its saved tensors changed.

    Returns:
        The call, unchanged when nothing was edited.
    """
    if not effects:
        return call
    nodes = list(call.graph.nodes)
    for node_id, effect in effects.items():
        node = nodes[node_id]
        saved = tuple(
            dataclasses.replace(
                item,
                forward_value=effect.forward.get(item.name),
                value=effect.backward.get(item.name, item.value),
            )
            if item.name in effect.forward
            else item
            for item in node.saved
        )
        nodes[node_id] = dataclasses.replace(node, saved=saved)
    steps = tuple(
        dataclasses.replace(step, unedited=effects[step.node].unedited or ())
        if step.node in effects
        else step
        for step in call.steps
    )
    graph = dataclasses.replace(call.graph, nodes=tuple(nodes))
    return dataclasses.replace(call, graph=graph, steps=steps)
