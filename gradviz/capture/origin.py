"""Where a backward node came from, stored on the node itself in ``grad_fn.metadata``.

Autograd Nodes cannot be weak-referenced and their ``id()`` is reused, so the forward recorder writes a
`NodeOrigin` into the node's own ``metadata`` dict; it lives exactly as long as the node does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gradviz.model import Location

#: The key of a node's origin in its ``metadata`` dict.
ORIGIN_KEY = _KEY = "gradviz"


@dataclass(frozen=True, slots=True)
class NodeOrigin:
    """What the forward recorder knew when a node was created.

    Attributes:
        event: Id of the forward event whose output got this node as grad_fn.
        location: The user's line of that op.
        tensor_id: gradviz id of the tensor the node produced.
        fingerprints: Per saved-tensor name, a fingerprint of its contents at creation time, so that
            a change that bypassed the version counter (a ``.data`` edit) can be detected in backward.
            Taken at the first edit mark after the node was made (`gradviz.capture.lazyprints`).
        readable: Whether the node was made while no saved-tensor hooks were pushed, so that reading
            its saved tensors runs no unpack hook.
    """

    event: int
    location: Location | None
    tensor_id: int | None = None
    fingerprints: tuple[tuple[str, Any], ...] = ()
    readable: bool = False


def update_origin(grad_fn: Any, origin: NodeOrigin) -> None:
    """Replace a node's origin (its fingerprints, taken after the node was made)."""
    grad_fn.metadata[_KEY] = origin


def set_origin(grad_fn: Any, origin: NodeOrigin) -> None:
    """Attach an origin to a node (first writer wins: the op that created it)."""
    metadata = grad_fn.metadata
    if _KEY not in metadata:
        metadata[_KEY] = origin


def origin_of(grad_fn: Any) -> NodeOrigin | None:
    """The origin recorded for a node, if forward tracing saw it being created."""
    try:
        origin = grad_fn.metadata.get(_KEY)
    except (AttributeError, RuntimeError):
        return None
    return origin if isinstance(origin, NodeOrigin) else None


def origin_in(metadata: dict[str, Any]) -> NodeOrigin | None:
    """`origin_of`, from the node's ``metadata`` dict already in hand."""
    origin = metadata.get(_KEY)
    return origin if isinstance(origin, NodeOrigin) else None


def grad_fn_of(tensor: Any) -> Any:
    """``tensor.grad_fn``, or None where autograd refuses to give one.

    A view made under ``no_grad`` of a tensor that requires grad, then modified in place (as
    ``nn.init.orthogonal_`` does with ``tensor.view_as(q).copy_(q)``), raises on every ``grad_fn`` read:
    autograd cannot rebase its history, and there is none to show.

    Args:
        tensor: Any tensor.

    Returns:
        Its grad_fn, or None.
    """
    try:
        return tensor.grad_fn
    except RuntimeError:
        return None
