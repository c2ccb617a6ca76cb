"""Graphviz HTML-like label pieces shared by the full drawing and the collapsed view."""

from __future__ import annotations

import html
import io
import tokenize

from gradviz.model import BackwardCall, Graph
from gradviz.render.failure import failure_title
from gradviz.render.state import StepState
from gradviz.render.style import MONO_FONT, MUTED, RAISED, SMALL_FONT_SIZE

__all__ = ["html_label", "small", "text", "title_lines", "used_times", "without_comment"]

_TITLE_CODE = 60

#: Control characters are not allowed in Graphviz's HTML-like labels: show them escaped.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def text(raw: str) -> str:
    """Escape text for an HTML-like label (control characters shown as ``\\xNN``)."""
    return html.escape(raw.translate(_CONTROL), quote=False)


def small(raw: str, *, mono: bool = False, color: str = MUTED) -> str:
    """A line in the small font, muted unless `color` says otherwise."""
    face = f' face="{MONO_FONT}"' if mono else ""
    return f'<font point-size="{SMALL_FONT_SIZE}" color="{color}"{face}>{text(raw)}</font>'


def html_label(lines: list[str]) -> str:
    """Lines joined into one HTML-like label."""
    return "<" + "<br/>".join(lines) + ">"


def without_comment(line: str) -> str:
    """A source line without its trailing ``# comment`` (a ``#`` inside a string stays).

    Args:
        line: One line of Python source.

    Returns:
        The line up to its comment, stripped of trailing spaces; the line as it was when it has no
        comment the tokenizer reaches (a ``#`` in a string left open is no comment) or is only one.
    """
    start = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                start = token.start[1]
                break
    except (tokenize.TokenError, SyntaxError):
        pass
    if start is None:
        return line
    return line[:start].rstrip() or line


def title_lines(subject: Graph | BackwardCall, state: StepState) -> list[str] | None:
    """The drawing's title for a backward call (its API, number, line and step), None for a lone graph."""
    if isinstance(subject, Graph):
        return None
    where = f" at {subject.location}" if subject.location is not None else ""
    code = ""
    if subject.location is not None and subject.location.code:
        line = without_comment(subject.location.code)
        code = f": {line if len(line) <= _TITLE_CODE else line[: _TITLE_CODE - 3] + '...'}"
    title = f"{subject.api} call #{subject.index}{where}{code}"
    if state.step is not None:
        title += f" (after step {state.step} of {state.total})"
    lines = [text(title)]
    failure = failure_title(subject)
    if failure is not None:
        lines.append(f'<font color="{RAISED.border}">{text(failure)}</font>')
    return lines


def used_times(count: int) -> str:
    """The label of a link that appears `count` times in next_functions: ``×2 (used twice)``.

    Args:
        count: How many input slots of the node lead to the same next node (2 or more).

    Returns:
        A label that cannot be read as a variable name (``x2`` could be one).
    """
    return f"×{count} (used {'twice' if count == 2 else f'{count} times'})"
