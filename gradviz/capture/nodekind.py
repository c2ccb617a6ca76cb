"""What every node of one grad_fn type holds, found once per type: describing a node then needs no ``dir()``.

A node type's ``_saved_*`` attributes are fixed by its class: those with a ``_raw_saved_*`` twin hold
tensors (a SavedVariable, or a list of them), the others plain values (Pow's exponent, Sum's dim).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from gradviz.capture.attributes import attribute_names
from gradviz.capture.saved import saved_names
from gradviz.capture.unpack import tuple_reader

#: The name a custom ``autograd.Function`` node's saved tensors get, as `saved_names` gives it.
CUSTOM_SAVED = "saved_tensors"


@dataclass(frozen=True, slots=True)
class NodeKind:
    """What the nodes of one grad_fn type hold.

    Attributes:
        name: ``type(grad_fn).__name__``.
        accumulate: Whether it is ``AccumulateGrad`` (its leaf is ``grad_fn.variable``).
        saved: ``(attribute, name)`` per saved value that holds tensors, in `saved_names` order
            (``("_saved_self", "self")``); ``(CUSTOM_SAVED, CUSTOM_SAVED)`` for a custom Function.
        read: Reads a node's `saved` attributes as one tuple, in that order (None for a custom Function).
        plain: Whether it saves plain values (`gradviz.capture.attributes.attribute_names`).
    """

    name: str
    accumulate: bool
    saved: tuple[tuple[str, str], ...]
    read: Callable[[Any], tuple[Any, ...]] | None = field(default=None, compare=False)
    plain: bool = False


_kinds: dict[type, NodeKind] = {}


def kind_of(grad_fn: Any) -> NodeKind:
    """The `NodeKind` of a node's type (found on the first node of that type, then cached).

    Args:
        grad_fn: An autograd Node.

    Returns:
        Its kind.
    """
    kind = _kinds.get(type(grad_fn))
    if kind is None:
        kind = _kinds[type(grad_fn)] = _find_kind(grad_fn)
    return kind


def kinds_of(grad_fns: Sequence[Any]) -> list[NodeKind]:
    """`kind_of` each node, in order.

    Args:
        grad_fns: Autograd Nodes.

    Returns:
        Their kinds.
    """
    get = _kinds.get
    return [get(type(grad_fn)) or kind_of(grad_fn) for grad_fn in grad_fns]


def _find_kind(grad_fn: Any) -> NodeKind:
    name = type(grad_fn).__name__
    if name == "AccumulateGrad":
        return NodeKind(name, True, ())
    plain = bool(attribute_names(grad_fn))
    if isinstance(grad_fn, torch.autograd.function.BackwardCFunction):
        return NodeKind(name, False, ((CUSTOM_SAVED, CUSTOM_SAVED),), plain=plain)
    found = set(dir(grad_fn))
    # A value with no _raw_saved_ twin is a plain value (a number, dims), never a tensor.
    tensors = tuple(
        (f"_saved_{saved}", saved) for saved in saved_names(grad_fn) if f"_raw_saved_{saved}" in found
    )
    return NodeKind(name, False, tensors, tuple_reader(tuple(attribute for attribute, _ in tensors)), plain)
