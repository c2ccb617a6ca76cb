"""Tensor summaries as a few characters of text, the same in the SVG, the HTML, the tree and the TUI."""

from __future__ import annotations

import math

from gradviz.model import Nested, Value


def format_number(number: float | int | bool | complex) -> str:
    """A short, stable rendering of one number.

    Args:
        number: A Python number, as ``Tensor.tolist()`` gives them.

    Returns:
        ``"6"`` for whole floats, ``"0.5"``, ``"1.235e-05"`` (4 significant digits), ``"nan"``,
        ``"True"``, ``"1-2j"``.
    """
    if isinstance(number, bool):
        return str(number)
    if isinstance(number, int):
        return str(number)
    if isinstance(number, complex):
        sign = "+" if number.imag >= 0 else "-"
        return f"{format_number(number.real)}{sign}{format_number(abs(number.imag))}j"
    if math.isnan(number) or math.isinf(number):
        return str(number)
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.4g}"


def format_nested(values: Nested) -> str:
    """Nested values in list notation.

    Args:
        values: A number or nested tuples of numbers (recursion depth is the tensor's ndim).

    Returns:
        Text such as ``"[[1, 0], [0, 4]]"``.
    """
    if isinstance(values, tuple):
        return "[" + ", ".join(format_nested(item) for item in values) + "]"
    return format_number(values)


def format_shape(shape: tuple[int, ...]) -> str:
    """A shape in list notation.

    Args:
        shape: The sizes.

    Returns:
        ``"[2, 3]"``, or ``"[]"`` for a scalar.
    """
    return "[" + ", ".join(str(size) for size in shape) + "]"


def shape_text(shape: tuple[int, ...]) -> str:
    """A tensor's shape as a node's label writes it, in every view.

    Args:
        shape: The sizes.

    Returns:
        ``"[2, 3]"``, or ``"scalar"`` for a 0-dim tensor.
    """
    return format_shape(shape) if shape else "scalar"


def format_value(value: Value | None, *, max_values: int = 8, values: bool = True) -> str:
    """A tensor summary in a few characters: its values when small, else its shape and norm.

    Args:
        value: The summary, or None (autograd's "no gradient").
        max_values: Show values only for tensors with at most this many elements.
        values: Whether to show values at all.

    Returns:
        ``"[6, 48]"``, ``"7.5"``, ``"shape [200, 3], norm 4.2"`` or ``"None"`` (a shape is never written
        in the brackets values use alone: ``[3]`` would read as a gradient of 3).
    """
    if value is None:
        return "None"
    if values and value.values is not None and value.numel <= max_values:
        return format_nested(value.values)
    text = f"shape {format_shape(value.shape)}"
    if value.norm is not None:
        text += f", norm {format_number(value.norm)}"
    return text


def is_zero(value: Value | None) -> bool:
    """Whether a gradient summary is known to be all zeros.

    Args:
        value: A summary, or None (no ``.grad`` yet, which counts as zero).

    Returns:
        True when None or when its min and max (or its norm) are 0.
    """
    if value is None:
        return True
    if value.min is not None and value.max is not None:
        return value.min == 0 and value.max == 0
    return value.norm == 0
