"""Tensor summaries as blocks of text lines: values row by row, matrices, blocks side by side.

The multi-line counterpart of `gradviz.render.values` (which gives one short line), for panes that
have room to write a small tensor out, such as the TUI's step pane.
"""

from __future__ import annotations

from gradviz.model import Nested, Value
from gradviz.render.values import format_number, format_shape

#: Widest matrix (in columns) that is written out element by element.
MAX_MATRIX_COLUMNS = 16


def _leaves(values: Nested, out: list[str]) -> None:
    if isinstance(values, tuple):
        for item in values:
            _leaves(item, out)
    else:
        out.append(format_number(values))


def _nested_lines(values: Nested, width: int) -> list[str]:
    if not isinstance(values, tuple):
        return [format_number(values).rjust(width)]
    if not values:
        return ["[]"]
    if not isinstance(values[0], tuple):
        return ["[" + ", ".join(_nested_lines(item, width)[0] for item in values) + "]"]
    lines: list[str] = []
    for position, item in enumerate(values):
        for line in _nested_lines(item, width):
            lines.append((" " if lines else "[") + line)
        if position < len(values) - 1:
            lines[-1] += ","
    lines[-1] += "]"
    return lines


def stats_text(value: Value) -> str:
    """Shape, dtype and statistics of a value in one line.

    Args:
        value: A tensor summary.

    Returns:
        E.g. ``"[300, 20] float32  min -1.2 max 3.4 mean 0.01 norm 12.3"``.
    """
    head = f"{format_shape(value.shape)} {value.dtype}"
    stats = [
        f"{name} {format_number(stat)}"
        for name, stat in (("min", value.min), ("max", value.max), ("mean", value.mean), ("norm", value.norm))
        if stat is not None
    ]
    return "  ".join([head, *stats])


def value_lines(value: Value | None, *, show_values: bool = True) -> list[str]:
    """A tensor summary as text lines: the values of a small tensor, else shape and statistics.

    Args:
        value: The summary, or None for "no tensor" (autograd's undefined gradient).
        show_values: False to show only shape and dtype, even for small tensors.

    Returns:
        One or more lines; nested tensors are printed row by row with aligned columns, a single row
        (a vector, or a 1 x n matrix) with no padding.
    """
    if value is None:
        return ["None"]
    if not show_values:
        return [f"{format_shape(value.shape)} {value.dtype}"]
    if value.values is None:
        return [stats_text(value)]
    lines = _nested_lines(value.values, 0)
    if len(lines) == 1:
        return lines  # a lone row is not padded: "[3, 62]", not "[ 3, 62]"
    texts: list[str] = []
    _leaves(value.values, texts)
    width = max((len(text) for text in texts), default=0)
    return _nested_lines(value.values, width)


def matrix_lines(value: Value | None) -> list[str]:
    """A Jacobian matrix written out row by row, or a one-line summary when it is too big.

    Args:
        value: A (numel of output x numel of input) matrix summary.

    Returns:
        The matrix rows with aligned columns, or its shape and statistics.
    """
    if value is None:
        return ["not computed"]
    if len(value.shape) != 2:
        return [f"not a matrix: {stats_text(value)}"]
    if value.values is None or value.shape[1] > MAX_MATRIX_COLUMNS:
        return [f"{value.shape[0]}×{value.shape[1]} matrix, too large to write out: {stats_text(value)}"]
    return value_lines(value)


def _block(lines: list[str]) -> list[str]:
    width = max(len(line) for line in lines)
    return [line.ljust(width) for line in lines]


def join_blocks(blocks: list[list[str]], separators: list[str]) -> list[str]:
    """Put text blocks side by side, top-aligned, with a separator between each pair.

    Args:
        blocks: Blocks of lines.
        separators: One fewer separators than blocks, written on the first line only.

    Returns:
        The combined lines.
    """
    padded = [_block(block) for block in blocks]
    height = max(len(block) for block in padded)
    lines = []
    for row in range(height):
        parts = []
        for index, block in enumerate(padded):
            parts.append(block[row] if row < len(block) else " " * len(block[0]))
            if index < len(separators):
                separator = separators[index]
                parts.append(separator if row == 0 else " " * len(separator))
        lines.append("".join(parts).rstrip())
    return lines
