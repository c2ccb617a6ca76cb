"""Small helpers for the sentences gradviz says about a line of the user's code."""

from __future__ import annotations

import re

from gradviz.model import Location

#: Detail of ops that ran with grad off although the user did not switch it off.
TORCH_NO_GRAD = "grad turned off by torch itself (inside a custom autograd.Function's forward)"
_ASSIGNED = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(?:\[[^\]]*\])?\s*(?::[^=]+)?=(?!=)")
_DATA_OWNER = re.compile(r"([A-Za-z_][\w.]*?)\.data\b")
_COMMENT = re.compile(r"\s*#[^'\"]*$")


def code_of(location: Location | None) -> str | None:
    """The line's code without a trailing comment, or None when it could not be read."""
    if location is None or not location.code:
        return None
    return _COMMENT.sub("", location.code) or None


def at(location: Location | None) -> str:
    """`` at file:line (`code`)`` for a sentence, or an empty string when the line is unknown."""
    if location is None:
        return ""
    code = code_of(location)
    return f" at {location}" + (f" (`{code}`)" if code else "")


def assigned_name(location: Location | None) -> str | None:
    """The variable a line assigns to, read from its code (``d = b * c`` gives ``"d"``), or None.

    Args:
        location: A line of the user's code.

    Returns:
        The assignment target, when the line is a simple assignment.
    """
    code = code_of(location)
    found = _ASSIGNED.match(code) if code else None
    return found.group(1) if found else None


def data_owner(location: Location | None) -> str | None:
    """The name in front of ``.data`` on a line (``w.data *= 10`` gives ``"w"``), or None."""
    code = code_of(location)
    found = _DATA_OWNER.search(code) if code else None
    return found.group(1) if found else None


_DETACHED = re.compile(r"([A-Za-z_][\w.]*(?:\[[^\]]*\])?)\.detach_?\(\)")


def detached_name(location: Location | None) -> str | None:
    """What a line detaches, by name.

    The assigned variable when the whole right-hand side is ``x.detach()`` (``e = c.detach()`` gives
    ``"e"``); otherwise the detach expression itself (``y = f(b.detach())`` gives ``"b.detach()"``),
    since the assigned variable is then something computed from the detached tensor.

    Args:
        location: A line of the user's code.

    Returns:
        A name for the detached tensor, or None when the line does not say.
    """
    code = code_of(location)
    if not code:
        return None
    found = _DETACHED.search(code)
    label = assigned_name(location)
    if label is not None and found is not None and code.rstrip().endswith(found.group(0)):
        rhs = code.split("=", 1)[1].strip()
        if rhs == found.group(0):
            return label
    return found.group(0) if found is not None else label
