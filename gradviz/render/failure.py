"""How every view words a backward/grad call that raised: the error in short, where it stopped.

A failed call is a fact of the trace, not a drawing problem: the SVG title, the HTML heading, the
terminal summary and the TUI all take their words from here, so they say the same thing.
"""

from __future__ import annotations

from gradviz.model import BackwardCall, CallError, Node

#: Longest error text in a title or a one-line summary before it is cut with "...".
SHORT_ERROR = 90
#: What a leaf that got nothing from a failed call says instead of showing a new ``.grad``.
RECEIVED_NOTHING = "received nothing: the call failed before reaching it"
#: The mark on the node autograd was running when the call raised.
RAISED_HERE = "raised here"


def error_text(error: CallError, *, limit: int | None = SHORT_ERROR) -> str:
    """The error as ``RuntimeError: first line of its message``, cut to `limit` characters.

    Args:
        error: The recorded error.
        limit: Longest text returned; None for the whole first line.

    Returns:
        Type and the first line of the message, whitespace collapsed.
    """
    lines = error.message.strip().splitlines()
    first = " ".join(lines[0].split()) if lines else ""
    text = f"{error.type}: {first}" if first else error.type
    if limit is not None and len(text) > limit:
        kept = text[: limit - 3]
        if text[limit - 3] != " " and " " in kept:
            kept = kept.rsplit(" ", 1)[0]  # end at a whole word, not half of one
        text = kept.rstrip() + "..."
    return text


def failure_title(call: BackwardCall, *, limit: int | None = SHORT_ERROR) -> str | None:
    """``failed: RuntimeError: ...`` for a call that raised, None for one that finished.

    Args:
        call: A captured call.
        limit: Longest error text (see `error_text`).

    Returns:
        The words to append to the call's title, or None.
    """
    if call.error is None:
        return None
    return f"failed: {error_text(call.error, limit=limit)}"


def raised_at(call: BackwardCall) -> Node | None:
    """The node autograd was running when the call raised, where it was recorded.

    Args:
        call: A captured call.

    Returns:
        The node, or None when the call finished, raised before the engine, or the node is unknown.
    """
    error = call.error
    if error is None or error.node is None or not 0 <= error.node < len(call.graph.nodes):
        return None
    return call.graph.node(error.node)


def where_it_stopped(call: BackwardCall) -> str:
    """Where the failed call stopped, in words, for the TUI and the HTML page.

    Args:
        call: A captured call that raised.

    Returns:
        ``"in MulBackward0 #1 (z), after 2 of its steps ran"`` or ``"before autograd ran any node"``.
    """
    node = raised_at(call)
    ran = len(call.steps)
    label = node.tensor.label if node is not None and node.tensor is not None else None
    after = f", after {ran} step{'s' if ran != 1 else ''} ran" if ran else ", before any step finished"
    if node is not None:
        named = f" ({label})" if label else ""
        return f"while autograd ran {node.name} #{node.id}{named}{after}"
    if ran:
        return f"after {ran} step{'s' if ran != 1 else ''} ran (the node it stopped in is not known)"
    return "before autograd ran any node"
