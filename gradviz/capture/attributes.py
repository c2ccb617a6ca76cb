"""The non-tensor values a node saved for backward: Pow's exponent, Sum's dim, LeakyReLU's slope.

A tensor saved for backward has a ``_raw_saved_<name>`` twin; a plain value (a number, a bool, a tuple
of dims) has only ``_saved_<name>``, and reading it unpacks nothing, so it never runs a saved-tensor
hook. Sizes and strides are left out: they restate the shapes already drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradviz.capture.unpack import tuple_reader

#: Saved values that only restate a shape: not worth a line in the drawing.
_SHAPES = ("_sym_sizes", "_sym_strides", "_sizes", "_strides", "_sym_numel", "_sym_argsize_0", "_argsize_0")
_names_by_type: dict[type, tuple[str, ...]] = {}
#: Per node type, a reader of its plain saved values as one tuple (``operator.attrgetter``, in C).
_readers: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
_MAX_TEXT = 40
#: Values that say nothing new: ``x + y`` saves ``alpha=1``.
_DEFAULTS = frozenset({("alpha", "1")})
_PLAIN_KINDS = (bool, int, float, str)
_PLAIN = frozenset(_PLAIN_KINDS)


def attribute_names(grad_fn: Any) -> tuple[str, ...]:
    """Names of a node's non-tensor saved values, without ``_saved_`` (cached per node type).

    Args:
        grad_fn: An autograd Node.

    Returns:
        The names, e.g. ``("exponent",)`` for ``PowBackward0``; empty for custom Functions.
    """
    kind = type(grad_fn)
    names = _names_by_type.get(kind)
    if names is None:
        found = (
            set(dir(grad_fn)) if not isinstance(grad_fn, torch.autograd.function.BackwardCFunction) else set()
        )
        names = tuple(
            attr[7:]
            for attr in sorted(found)
            if attr.startswith("_saved_") and f"_raw{attr}" not in found and not attr.endswith(_SHAPES)
        )
        _names_by_type[kind] = names
    return names


def saved_attributes(grad_fn: Any) -> tuple[tuple[str, str], ...]:
    """The node's non-tensor saved values as ``(name, text)`` pairs, e.g. ``(("exponent", "2"),)``.

    Args:
        grad_fn: An autograd Node.

    Returns:
        One pair per plain value (numbers, bools, strings, tuples of them); None values and anything
        holding a tensor are left out.
    """
    names = attribute_names(grad_fn)
    if not names:
        return ()
    reader = _readers.get(type(grad_fn))
    if reader is None:
        reader = _readers[type(grad_fn)] = tuple_reader(tuple(f"_saved_{name}" for name in names))
    try:
        values = reader(grad_fn)
        types = tuple(map(type, values))
        # Types too: 2 == 2.0 == True read "2", "2.0", "True"; a float's text tells -0.0 from 0.0.
        floats = tuple(str(value) for value in values if type(value) is float) if float in types else ()
        key = (type(grad_fn), values, types, floats)
        found = _texts.get(key)
    except (RuntimeError, TypeError):  # a freed graph, or a value that cannot be a key
        return _pairs(grad_fn, names)
    if found is None:
        if len(_texts) > _MAX_TEXTS:
            _texts.clear()
        found = _texts[key] = _pairs(grad_fn, names)
    return found


#: Pairs already worked out, by node type and values: a model's many nodes of one kind repeat them.
_texts: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}
_MAX_TEXTS = 10_000


def _pairs(grad_fn: Any, names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for name in names:
        try:
            value = getattr(grad_fn, f"_saved_{name}")
        except RuntimeError:  # a freed graph: its plain values may be gone too
            continue
        text = _plain_text(value)
        if text is not None and (name, text) not in _DEFAULTS:
            pairs.append((name, text))
    return tuple(pairs)


def _plain_text(value: Any) -> str | None:
    kind = type(value)
    if kind is int or kind is float or kind is bool:  # the common case first, without isinstance
        text = str(value)
        return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
    if value is None or isinstance(value, torch.Tensor):
        return None
    if isinstance(value, (tuple, list)):
        plain = _PLAIN.issuperset(map(type, value))
        if not plain and not all(isinstance(item, _PLAIN_KINDS) for item in value):
            return None
        text = repr(tuple(value))
    elif isinstance(value, (bool, int, float, str)):
        text = repr(value) if isinstance(value, str) else str(value)
    else:
        return None
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."
