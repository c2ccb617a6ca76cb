"""The status line under the panes: where in the call the user is, and first whether the call failed."""

from __future__ import annotations

from rich.text import Text

from gradviz.model import BackwardCall
from gradviz.render.failure import error_text, raised_at
from gradviz.render.stepview import describe_node


def status_lines(
    backward: BackwardCall, step: int, captured: list[int], *, highlighted: tuple[int, int] | None = None
) -> list[str]:
    """The status of a call at a step: one line, with a line saying where it failed before it when it did.

    Args:
        backward: The call shown.
        step: The step shown (one past the last recorded one shows where a failed call raised).
        captured: The indices of every captured call, in order.
        highlighted: The selected timeline event and how many nodes it highlights, if any.

    Returns:
        ``["step 2 of 5 · call 1 of 3 captured · backward() at train.py:14"]``, preceded for a failed
        call by ``"FAILED in MulBackward0 #1: RuntimeError: ..."``.
    """
    total = len(backward.steps)
    parts = [f"step {step} of {total}" if step <= total else f"after step {total} of {total}"]
    position = captured.index(backward.index) + 1 if backward.index in captured else 0
    if position == backward.index:
        parts.append(f"call {backward.index} of {len(captured)} captured")
    else:
        parts.append(f"call {backward.index} ({position} of {len(captured)} captured)")
    if highlighted is not None:
        parts.append(f"event {highlighted[0]}: {highlighted[1]} node(s) highlighted")
    where = f" at {backward.location}" if backward.location is not None else ""
    parts.append(f"{backward.api}(){where}")
    lines = [" · ".join(parts)]
    if backward.error is not None:
        node = raised_at(backward)
        stopped = f" in {describe_node(node)}" if node is not None else ""
        lines.insert(0, f"FAILED{stopped}: {error_text(backward.error, limit=None)}")
    return lines


def status_text(lines: list[str]) -> Text:
    """Status lines as one text (the stylesheet ends a line longer than the screen with an ellipsis).

    Args:
        lines: From `status_lines`.

    Returns:
        The text, a FAILED line in bold red.
    """
    text = Text()
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        text.append(line, style="bold red" if line.startswith("FAILED") else "")
    return text
