"""Text that stays inside its box whatever fonts the viewer has.

The layout engine sizes each box with hard-coded metrics of one font (`style.FONT`, DejaVu Sans, as
wide as the widest common sans-serif). The SVG then names a stack of fonts that are all no wider, and
each centred line of a node is anchored at the node's centre, so a narrower font leaves equal room
on both sides instead of drifting left.
"""

from __future__ import annotations

import re

from gradviz.render.style import FONT, MONO_FONT, MONO_STACK, SANS_STACK

__all__ = ["fit_text"]

_FAMILY = re.compile(r'font-family="([^"]*)"')
_NODE = re.compile(r'(<g id="[^"]*" class="node">)(.*?)(</g>)', re.DOTALL)
_TEXT = re.compile(r'<text ([^>]*)text-anchor="start" x="([-\d.]+)"')
_STARTS = re.compile(r'text-anchor="start" x="([-\d.]+)"')
_SHAPE = re.compile(r'<(?:polygon|path)\b[^>]*?(?:points|d)="([^"]*)"')
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _stack(match: re.Match[str]) -> str:
    first = match.group(1).split(",")[0].strip()
    if first == FONT:
        return f'font-family="{SANS_STACK}"'
    if first == MONO_FONT:
        return f'font-family="{MONO_STACK}"'
    return match.group(0)


def _centre(shape: str) -> float:
    """The middle x of a polygon's points or a path's coordinates (rounded corners stay inside)."""
    xs = [float(number) for number in _NUMBER.findall(shape)[0::2]]
    return (min(xs) + max(xs)) / 2


def _node_centre(shapes: list[str]) -> float | None:
    """The node's middle x, or None when its shapes are not one box (or a double border) but a table."""
    centres = {round(_centre(shape)) for shape in shapes}
    return _centre(shapes[0]) if len(centres) == 1 else None


def _anchor(match: re.Match[str]) -> str:
    opening, body, closing = match.groups()
    starts = set(_STARTS.findall(body))
    centre = _node_centre(_SHAPE.findall(body))
    # A left-aligned block (the whole call) starts every line at one x: it stays as laid out.
    if centre is None or not starts or (len(starts) == 1 and body.count("<text") > 1):
        return match.group(0)
    middle = f"{centre:.2f}"
    body = _TEXT.sub(lambda text: f'<text {text.group(1)}text-anchor="middle" x="{middle}"', body)
    return opening + body + closing


def fit_text(svg: str) -> str:
    """Make an engine's SVG keep its text inside its boxes in any renderer.

    Args:
        svg: SVG from the layout engine, laid out with `style.FONT` and `style.MONO_FONT`.

    Returns:
        The same drawing with font stacks no wider than the layout font, and each centred line of a
        node anchored at the node's centre.
    """
    return _NODE.sub(_anchor, _FAMILY.sub(_stack, svg))
