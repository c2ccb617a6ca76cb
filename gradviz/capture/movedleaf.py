"""The ``.to(device)`` pitfall: a copy of a leaf made on the same line is not a leaf.

``w = torch.randn(3, requires_grad=True).to(device)`` (or ``.cuda()``, ``.double()``) names the output of
a copy with grad_fn ``ToCopyBackward0``: ``w.grad`` stays None after backward, an optimizer refuses ``w``,
and the leaf that does receive the gradient has no name. The same line on a machine where the move
changes nothing returns the leaf itself: it works there, and breaks on the next machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from gradviz.capture.devices import TO_COPY
from gradviz.capture.wording import assigned_name, code_of
from gradviz.model import Event, Finding, Location

#: The optimizer's refusal of such a copy, as torch words it.
NON_LEAF_REFUSED = "can't optimize a non-leaf Tensor"
#: A leaf asked for on the line before a move: ``randn(3, requires_grad=True).to(device)``.
_LEAF_THEN_MOVE = re.compile(
    r"requires_grad(?:\s*=\s*True|_\(\)).*\.(?:to|cuda|cpu|double|float|half|bfloat16)\("
)
_MOVES = frozenset(f"Tensor.{name}" for name in ("to", "cuda", "cpu", "double", "float", "half", "bfloat16"))
_TO_ARGS = re.compile(r"\.to\(([^()]*)\)")
_DTYPE_WORDS = ("float", "double", "half", "dtype", "int", "complex", "bool")
_REQUIRES_GRAD_ARG = re.compile(r",\s*requires_grad\s*=\s*True|requires_grad\s*=\s*True\s*,?\s*")


def pitfall_findings(
    found: Sequence[Finding], events: Sequence[Event], refused: Iterable[Location | None] = ()
) -> list[Finding]:
    """The findings with one for each tensor made as a moved copy of a leaf it was created with.

    A generic ".grad of a non-leaf" finding about such a tensor is replaced: its advice (retain_grad)
    is not the fix here.

    Args:
        found: The findings so far.
        events: The forward timeline.
        refused: Lines where an optimizer refused a tensor with "can't optimize a non-leaf Tensor".

    Returns:
        The findings, those about moved copies added (a warning when the code read the copy's ``.grad``
        or gave it to an optimizer, which says it meant to train it; a note otherwise).
    """
    pitfalls = list(_moved_leaves(events))
    harmless = [_harmless_here(move, name) for move, name in _unmoved_leaves(events)]
    if not pitfalls:
        return [*found, *harmless]
    refused_lines = [location for location in refused if location is not None]
    reads = _grad_reads(events, {move.outputs[0] for move, _ in pitfalls})
    replaced: set[tuple[str | None, Location | None]] = set()
    added = []
    for move, name in pitfalls:
        read_at = reads.get(move.outputs[0], [])
        refusal = [where for where in refused_lines if name is not None and _mentions(where, name)]
        added.append(_finding(move, name, read_at, refusal))
        replaced.update((name, where) for where in read_at)
    kept = [f for f in found if not (f.kind == "non_leaf_grad" and (f.label, f.location) in replaced)]
    return kept + added + harmless


def _moved_leaves(events: Sequence[Event]) -> Iterable[tuple[Event, str | None]]:
    """The copies (grad_fn ToCopyBackward0) of a leaf made on the same line, with the name assigned."""
    moves = [e for e in events if e.grad_fn == TO_COPY and e.kind == "op" and e.inputs and e.outputs]
    if not moves:
        return
    creators: dict[int, Event] = {}
    wanted = {move.inputs[0] for move in moves}
    for event in events:
        for output in event.outputs:
            if output in wanted and output not in creators and output not in event.inputs:
                creators[output] = event
    moved_again = {move.inputs[0] for move in moves}
    for move in moves:
        if move.outputs[0] in moved_again:
            continue  # a chain such as .to(device).double(): the last copy on the line is the one named
        source = _origin_on_line(move, moves, creators)
        if source is not None and source.grad_fn is None:
            yield move, assigned_name(move.location)


def _unmoved_leaves(events: Sequence[Event]) -> Iterable[tuple[Event, str | None]]:
    """Moves that returned the leaf itself (it already lived there), on a line that made that leaf."""
    same = [
        e
        for e in events
        if e.op in _MOVES and e.kind == "op" and e.grad_fn is None and e.inputs[:1] == e.outputs[:1] != ()
    ]
    for move in same:
        code = code_of(move.location)
        if code is None or not _LEAF_THEN_MOVE.search(code):
            continue
        made = next((e for e in events if move.inputs[0] in e.outputs and e.kind == "op"), None)
        if made is not None and made is not move and made.location == move.location and made.grad_fn is None:
            yield move, assigned_name(move.location)


def _harmless_here(move: Event, name: str | None) -> Finding:
    who = name or "the tensor"
    method = move.op.removeprefix("Tensor.")
    message = (
        f"{who} is the leaf here because .{method}() changed nothing ({who} already lived there), but "
        f"where .{method}() does copy (another device or dtype) {who} would be the copy, not a leaf, and "
        f"{who}.grad would stay None. {_fix(move, who, method)}"
    )
    return Finding(kind="moved_leaf", message=message, location=move.location, label=name, severity="note")


def _origin_on_line(move: Event, moves: Sequence[Event], creators: dict[int, Event]) -> Event | None:
    """The op that made the tensor a move copied, following earlier copies on the same line."""
    by_output = {m.outputs[0]: m for m in moves}
    current = move
    while current.inputs[0] in by_output and by_output[current.inputs[0]].location == move.location:
        current = by_output[current.inputs[0]]
    creator = creators.get(current.inputs[0])
    if creator is None or creator.kind != "op" or creator.location != move.location:
        return None
    return creator


def _grad_reads(events: Sequence[Event], tensor_ids: set[int]) -> dict[int, list[Location | None]]:
    reads: dict[int, list[Location | None]] = {}
    for event in events:
        if event.kind == "grad_read" and event.inputs and event.inputs[0] in tensor_ids:
            lines = reads.setdefault(event.inputs[0], [])
            if event.location not in lines:
                lines.append(event.location)
    return reads


def _mentions(location: Location, name: str) -> bool:
    code = code_of(location)
    return code is not None and re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", code) is not None


def _finding(
    move: Event, name: str | None, read_at: Sequence[Location | None], refusal: Sequence[Location]
) -> Finding:
    who = name or "the tensor"
    method = move.op.removeprefix("Tensor.")
    lines = ", ".join(str(where) for where in read_at if where is not None)
    read = f" (read at {lines})" if lines else ""
    message = (
        f"{who} is a copy made by .{method}() (grad_fn {TO_COPY}), not a leaf, so {who}.grad stays None "
        f"after backward{read}; the gradient goes to the leaf it copied, which has no name."
    )
    if refusal:
        message += f" The optimizer refused {who} at {refusal[0]} ({NON_LEAF_REFUSED})."
    return Finding(
        kind="moved_leaf",
        message=f"{message} {_fix(move, who, method)}",
        location=move.location,
        label=name,
        severity="warning" if read_at or refusal else "note",
    )


#: What to pass to the factory instead of moving afterwards, per method.
_WHERE = {
    "double": "dtype=torch.float64",
    "float": "dtype=torch.float32",
    "half": "dtype=torch.float16",
    "bfloat16": "dtype=torch.bfloat16",
    "cuda": 'device="cuda"',
    "cpu": 'device="cpu"',
}


def _fix(move: Event, who: str, method: str) -> str:
    """How to make the tensor a leaf where it lives, with the user's own line rewritten when possible."""
    code = code_of(move.location)
    where = _to_arguments(code) if method == "to" and code is not None else None
    where = where or _WHERE.get(method, "device=device")
    directly = f"or create it there directly: `torch.randn(..., {where}, requires_grad=True)`."
    if code is not None and _REQUIRES_GRAD_ARG.search(code):
        rewritten = _REQUIRES_GRAD_ARG.sub("", code, count=1).strip() + ".requires_grad_()"
        return f"To train {who}, make the leaf after the move, `{rewritten}`, {directly}"
    return f"To train {who}, make the leaf after the move with `.{method}(...).requires_grad_()`, {directly}"


def _to_arguments(code: str) -> str | None:
    """``.to(device, dtype)`` on the user's line as factory keywords: ``device=device, dtype=dtype``."""
    found = _TO_ARGS.findall(code)
    if not found:
        return None
    words = []
    for position, argument in enumerate(part.strip() for part in found[-1].split(",") if part.strip()):
        if "=" in argument:
            words.extend([argument] if argument.split("=")[0].strip() in ("device", "dtype") else [])
        elif position == 0 and not any(word in argument.lower() for word in _DTYPE_WORDS):
            words.append(f"device={argument}")
        else:
            words.append(f"dtype={argument}")
    return ", ".join(words) or None
