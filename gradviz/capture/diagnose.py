"""Explain autograd's errors in terms of the trace: which tensor, which line, what to do.

The script still fails exactly as it would under plain Python; this only adds an explanation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gradviz.capture.wording import assigned_name, code_of
from gradviz.capture.wording import at as _at
from gradviz.model import BackwardCall, Event, Finding, Location

_INPLACE = re.compile(
    r"modified by an inplace operation: \[(?P<desc>[\w.]+ \[[^\]]*\])\]"
    r"(?:, which is output (?P<output>\d+) of (?P<fn>\w+),)? is at version (?P<now>\d+); "
    r"expected version (?P<expected>\d+)"
)
_SECOND = "backward through the graph a second time"
_SCALAR = "grad can be implicitly created only for scalar outputs"
_NO_GRAD_FN = "does not require grad and does not have a grad_fn"
_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation"
_INPLACE_TARGET = re.compile(
    r"^\s*([A-Za-z_][\w.]*?)(?:(?:\[[^\]]*\])?\s*(?:\.\w+_\(|[-+*/@%&|^]=)|\[[^\]]*\]\s*=(?!=))"
)
# Nodes whose backward needs their own output (d sigmoid = s * (1 - s), d exp = exp, ...).
_SAVES_OUTPUT = frozenset(
    f"{name}Backward0"
    for name in ("Sigmoid", "Tanh", "Exp", "Exp2", "Relu", "Sqrt", "Rsqrt", "Reciprocal", "Elu", "Softmax")
) | {"LogSoftmaxBackward0"}
_CALLED_ON = re.compile(r"([A-Za-z_][\w.]*?)\s*\.backward\(")


def _same_node(event_fn: str | None, reported: str) -> bool:
    # Recent torch names the node without its "Backward0" suffix ("output 0 of Sigmoid").
    return event_fn is not None and (
        event_fn == reported or re.sub(r"Backward\d*$", "", event_fn) == reported
    )


def _fed_a_graph(tensor_id: int, before: int, events: Sequence[Event]) -> bool:
    """Whether a tensor, or what was made from it outside any graph (a detach), fed a graph op before
    event `before`."""
    made_from = {tensor_id}
    for event in events:
        if event.id >= before:
            return False
        if made_from.intersection(event.inputs):
            if event.grad_fn is not None:
                return True
            made_from.update(event.outputs)
    return False


def _inplace(match: re.Match[str], events: Sequence[Event], location: Location | None) -> Finding:
    now, expected, fn = int(match["now"]), int(match["expected"]), match["fn"]
    edits = [e for e in events if e.kind == "inplace" and e.outputs and e.version_after == now]
    if fn is not None:
        # torch names the node that made the tensor, or the in-place op that last rebased its grad_fn.
        named = {e.outputs[0] for e in events if e.outputs and e.grad_fn and _same_node(e.grad_fn, fn)}
        edits = [e for e in edits if e.outputs[0] in named]
    # A saved tensor fed a graph op before the edit: an edit of a tensor that never did (a counter) is not it.
    edits = [e for e in edits if _fed_a_graph(e.outputs[0], e.id, events)] or edits
    if not edits:
        what = f"a tensor [{match['desc']}]" + (f", output {match['output']} of {fn}," if fn else "")
        message = (
            f"{what} was modified in place after backward saved it: it is at version {now} but was "
            f"saved at version {expected}. Use an out-of-place op (y = y * 2 instead of y.mul_(2) or "
            f"y *= 2), or modify a .clone()."
        )
        return Finding(kind="autograd_error", message=message, location=location)
    tensor_id = edits[-1].outputs[0]
    creator = next((e for e in events if e.kind == "op" and e.grad_fn and tensor_id in e.outputs), None)
    changes = [e for e in events if e.kind == "inplace" and e.outputs and e.outputs[0] == tensor_id]
    changes = [e for e in changes if e.version_before is not None and e.version_before >= expected]
    last = changes[-1] if changes else edits[-1]
    target = _INPLACE_TARGET.match(code_of(last.location) or "")
    label = target.group(1) if target else assigned_name(creator.location if creator else None)
    name = label or f"a tensor [{match['desc']}]"
    short = label or "x"
    origin = (
        f", output {match['output']} of {creator.grad_fn} made{_at(creator.location)}," if creator else ""
    )
    ops = "; ".join(f"{e.op}{_at(e.location)}" for e in changes or [last])
    users = [
        e for e in events if e.grad_fn and tensor_id in e.inputs and (creator is None or e.id > creator.id)
    ]
    users = [e for e in users if e.id < (changes[0].id if changes else last.id)]
    savers = [f"{e.grad_fn}{_at(e.location)}" for e in users[:3]]
    if creator is not None and (creator.grad_fn in _SAVES_OUTPUT or not users):
        savers.insert(0, f"{creator.grad_fn} (which saves its output)")
    saved_by = f" It was saved for backward by {' or '.join(savers)}." if savers else ""
    message = (
        f"{name}{origin} was modified in place by {ops}, which raised its _version from {expected} "
        f"to {now}.{saved_by} Autograd checks the version of every saved tensor before using it, so "
        f"backward refuses to run on the changed values. Use an out-of-place op ({short} = {short} * 2 "
        f"instead of {short}.mul_(2) or {short} *= 2), or work on a copy ({short} = {short}.clone() first)."
    )
    return Finding(kind="autograd_error", message=message, location=last.location or location, label=label)


def _second(events: Sequence[Event], calls: Sequence[BackwardCall], location: Location | None) -> Finding:
    earlier = list(calls)
    last = earlier[-1] if earlier else None
    if last is not None and len(last.steps) < len(last.nodes) and location in (None, last.location):
        location = location or last.location
        earlier.pop()  # the failing call itself, captured up to the error
    earlier = [call for call in earlier if not call.retain_graph]
    if earlier:
        call = earlier[-1]
        first = f"backward call {call.index}{_at(call.location)}"
    else:
        runs = [e for e in events if e.kind == "backward"]
        first = (
            f"the earlier backward{_at(runs[-2].location)}" if len(runs) >= 2 else "an earlier backward call"
        )
    message = (
        f"{first} already went through this graph without retain_graph=True, and autograd freed the "
        f"tensors its nodes had saved as it went. This second backward{_at(location)} needs them again. "
        f"Recompute the forward pass before each backward (usually: move it inside the loop), or pass "
        f"retain_graph=True to the first call if you really mean to go through the same graph twice."
    )
    return Finding(kind="autograd_error", message=message, location=location)


def _scalar(location: Location | None) -> Finding:
    called = _CALLED_ON.search(code_of(location) or "")
    # An unnamed output ("(x**2).backward()") gets a stand-in name, so the advice stays valid code.
    name, code = (called.group(1), called.group(1)) if called else ("the output (out below)", "out")
    message = (
        f"backward(){_at(location)} was called on {name}, which has more than one element. Backward "
        f"computes a vector-Jacobian product vJ: it needs a v shaped like {code} that says how much each "
        f"of its elements matters (for a scalar loss, v = 1 is implied). Reduce it to a scalar first "
        f"({code}.sum().backward() or {code}.mean().backward()), or pass v yourself: "
        f"{code}.backward(gradient=torch.ones_like({code})) gives the gradient of {code}.sum()."
    )
    return Finding(
        kind="autograd_error", message=message, location=location, label=called and called.group(1)
    )


def _not_in_graph(events: Sequence[Event], location: Location | None) -> Finding:
    hints = []
    no_grad = [e for e in events if e.kind == "grad_mode" and e.enabled is False]
    if no_grad:
        hints.append(f"grad was switched off{_at(no_grad[-1].location)}")
    detached = [e for e in events if e.kind == "detach"]
    if detached:
        hints.append(f"a tensor was detached{_at(detached[-1].location)}")
    seen = f" In this run, {' and '.join(hints)}." if hints else ""
    message = (
        f"backward(){_at(location)} was called on a tensor that is not part of any autograd graph: it "
        f"has no grad_fn and does not require grad. That happens when it was computed under "
        f"torch.no_grad(), from .detach()ed tensors, or only from tensors with requires_grad=False.{seen} "
        f"Make the inputs you want gradients for with requires_grad=True and compute the loss with grad on."
    )
    return Finding(kind="autograd_error", message=message, location=location)


def _leaf_inplace(location: Location | None) -> Finding:
    message = (
        f"An in-place op{_at(location)} tried to change a leaf that requires grad. Autograd forbids it "
        f"because the leaf's old value may be needed for backward. To update parameters, do it under "
        f"`with torch.no_grad():` (as optimizers do); otherwise use an out-of-place op."
    )
    return Finding(kind="autograd_error", message=message, location=location)


def explain_autograd_error(
    exc: BaseException,
    *,
    events: Sequence[Event],
    calls: Sequence[BackwardCall],
    location: Location | None,
) -> Finding | None:
    """Explain an autograd error in plain words, using what the trace saw.

    Args:
        exc: The exception the user's code raised.
        events: The forward timeline up to the error.
        calls: The backward calls captured so far.
        location: The user's line that raised it.

    Returns:
        A finding of kind ``autograd_error``, or None when ``exc`` is not an autograd error gradviz
        knows (modified by an inplace operation, backward a second time, non-scalar backward without
        a gradient, backward on a tensor outside any graph, in-place change of a leaf).
    """
    if not isinstance(exc, RuntimeError):
        return None
    text = str(exc)
    match = _INPLACE.search(text)
    if match is not None:
        return _inplace(match, events, location)
    if _SECOND in text:
        return _second(events, calls, location)
    if _SCALAR in text:
        return _scalar(location)
    if _NO_GRAD_FN in text:
        return _not_in_graph(events, location)
    if _LEAF_INPLACE in text:
        return _leaf_inplace(location)
    return None
