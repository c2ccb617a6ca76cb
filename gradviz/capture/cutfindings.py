"""What a cut of the graph (a no_grad block, a ``detach()``) is told as.

A note, or a warning when it cost trained leaves their gradient (`Harm`, judged by
`gradviz.capture.severity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradviz.capture.cuts import Cut
from gradviz.capture.wording import at
from gradviz.model import Finding, Location


def cut_message(cut: Cut) -> str:
    """What a cut did, in one or two sentences (the note; a warning adds why it matters).

    Args:
        cut: The cut site.

    Returns:
        The sentences.
    """
    if cut.kind == "detach":
        times = f" ({cut.count} calls)" if cut.count > 1 else ""
        cut_text = (
            "shares the data but is cut from the graph (requires_grad=False), so no gradient flows back"
        )
        if cut.label and "detach" in cut.label:
            return f"`{cut.label}`{at(cut.location)}{times} gives a tensor that {cut_text} through it."
        name = cut.label or "A result"
        return f"{name} was detached{at(cut.location)}{times}: it {cut_text} through it."
    switch = "torch.inference_mode()" if cut.mode == "inference_mode" else "torch.no_grad()"
    ops = "1 op" if cut.count == 1 else f"{cut.count} ops"
    first = ""
    if cut.first is not None and cut.first != cut.location:
        first = f", the first{at(cut.first)}"
    elif cut.label:
        first = f" (`{cut.label}`)"
    return (
        f"{ops} on tensors that require grad ran under {switch}{at(cut.location)} without being "
        f"recorded{first}: their results have no grad_fn, and no gradient flows back through them."
    )


@dataclass(frozen=True)
class Harm:
    """Why a cut is a warning: its result fed a backward, and leaves upstream of it never trained.

    Attributes:
        call: Index of the first backward call whose graph used the cut's result.
        call_location: That call's line.
        untrained: The user's names of the leaves that received no gradient (None where unnamed).
    """

    call: int
    call_location: Location | None
    untrained: tuple[str | None, ...]


#: Leaves named in a warning before the rest are counted.
_NAMED = 3


def _names(untrained: Sequence[str | None]) -> str:
    named = [name for name in untrained if name]
    shown = ", ".join(named[:_NAMED]) or "the leaves"
    rest = len(untrained) - min(len(named), _NAMED)
    if rest > 0:
        shown += f" and {rest} more" if named else f" ({rest})"
    return shown


def cut_finding(cut: Cut, harm: Harm | None) -> Finding:
    """The finding for a cut: a note, or a warning when it cost trained leaves their gradient.

    Args:
        cut: The cut site.
        harm: Set when the cut's result fed a backward while the leaves upstream never got a gradient.

    Returns:
        A ``no_grad`` or ``detach`` finding.
    """
    message = cut_message(cut)
    if harm is None:
        return Finding(
            kind=cut.kind,
            message=message,
            location=cut.location,
            label=cut.label,
            severity="note",
            count=cut.count,
        )
    undo = "move it out of the torch.no_grad() block" if cut.kind == "no_grad" else "remove the .detach()"
    message += (
        f" Backward call {harm.call}{at(harm.call_location)} used that result, but {_names(harm.untrained)} "
        f"upstream of the cut received no gradient from any backward call of the run, so they never train. "
        f"If they should learn, {undo}; if they are meant to stay frozen, say so with requires_grad_(False) "
        f"or leave them out of the optimizer."
    )
    return Finding(kind=cut.kind, message=message, location=cut.location, label=cut.label, count=cut.count)
