"""Saved tensors whose reading runs the user's code: those packed under saved-tensor hooks.

Under ``torch.autograd.graph.saved_tensors_hooks`` (which ``checkpoint(..., use_reentrant=False)`` and
``save_on_cpu`` use), each read of a saved tensor calls the user's unpack hook. Checkpointing allows one
unpack per tensor, so a read inside a node's pre-hook makes the real backward raise ``CheckpointError``,
and a counting hook would count gradviz's reads. gradviz therefore never reads such a node's saved
tensors and never calls such a node.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_RAW = "_raw_saved_"
_raw_names_by_type: dict[type, tuple[str, ...]] = {}
_raw_readers: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _raw_names(grad_fn: Any) -> tuple[str, ...]:
    kind = type(grad_fn)
    names = _raw_names_by_type.get(kind)
    if names is None:
        names = tuple(attr for attr in dir(grad_fn) if attr.startswith(_RAW))
        _raw_names_by_type[kind] = names
    return names


def tuple_reader(attributes: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function reading these attributes of an object as one tuple, in one C call (``attrgetter``).

    Args:
        attributes: Attribute names, possibly none.

    Returns:
        The reader; it raises what ``getattr`` raises.
    """
    if not attributes:
        return lambda _: ()
    if len(attributes) == 1:
        single = operator.attrgetter(attributes[0])
        return lambda target: (single(target),)
    return operator.attrgetter(*attributes)


def has_unpack_hook(grad_fn: Any) -> bool:
    """Whether reading any saved tensor of a node would call an unpack hook.

    Looks at the raw ``SavedTensor`` objects only, which runs no hook.

    Args:
        grad_fn: An autograd Node (a custom ``autograd.Function`` node included).

    Returns:
        True when a saved tensor was packed with hooks; also True when that cannot be told, so that
        the caller leaves the node alone.
    """
    reader = _raw_readers.get(type(grad_fn))
    if reader is None:
        reader = _raw_readers[type(grad_fn)] = tuple_reader(_raw_names(grad_fn))
    try:
        for raw in reader(grad_fn):
            if isinstance(raw, (tuple, list)):  # e.g. a custom Function's saved tensors
                for item in raw:
                    if getattr(item, "unpack_hook", None) is not None:
                        return True
            elif raw.unpack_hook is not None:
                return True
    except Exception:
        return True
    return False
