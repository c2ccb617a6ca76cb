"""Answer "why is tensor.grad what it is?" in plain words, from the tensor and what the trace saw."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch

from gradviz.capture.devices import copy_explanation
from gradviz.capture.forward import latest_recorder
from gradviz.capture.gradhistory import from_ledger
from gradviz.capture.leaves import Arrival
from gradviz.capture.location import user_frame
from gradviz.capture.wording import at as _at
from gradviz.model import BackwardCall, Event


def _name_in_caller(tensor: torch.Tensor) -> str | None:
    frame = user_frame(sys._getframe(1))
    for _ in range(3):
        if frame is None:
            break
        for name, value in frame.f_locals.items():
            if value is tensor and not name.startswith("_"):
                return name
        parent = frame.f_back
        frame = user_frame(parent) if parent is not None else None
    return None


#: The name used when the caller's variables do not hold the tensor.
UNNAMED = "this tensor"


def _grad_of(name: str) -> str:
    """``w.grad``, or ``its .grad`` for an unnamed tensor."""
    return "its .grad" if name == UNNAMED else f"{name}.grad"


def _it(name: str) -> str:
    return "it" if name == UNNAMED else name


def _call_on(name: str, method: str) -> str:
    """``w.retain_grad()``, or ``.retain_grad() on it`` for an unnamed tensor."""
    return f".{method} on it" if name == UNNAMED else f"{name}.{method}"


def _shown(grad: torch.Tensor) -> str:
    if grad.numel() <= 8:
        return f"{grad.detach().tolist()}"
    return f"a tensor of shape {list(grad.shape)}"


def _why_no_grad(name: str, tensor: torch.Tensor, tensor_id: int | None, events: Sequence[Event]) -> str:
    made = next((e for e in events if tensor_id is not None and tensor_id in e.outputs), None)
    turned_off = [
        e
        for e in events
        if e.kind in ("requires_grad", "detach") and e.op.endswith("_") and tensor_id in e.inputs
    ]
    if made is not None and made.kind == "detach":
        why = (
            f"{name} was made by .detach(){_at(made.location)}. A detached tensor shares the data but not "
            f"the history: requires_grad=False, no grad_fn, so backward never reaches it."
        )
    elif made is not None and made.grad_mode != "enabled" and made.kind in ("op", "inplace"):
        mode = "torch.inference_mode()" if made.grad_mode == "inference_mode" else "torch.no_grad()"
        why = (
            f"{name} was computed under {mode}{_at(made.location)}: autograd did not record that op, so "
            f"{name} has no grad_fn and requires_grad=False, even though its inputs required grad."
        )
    elif turned_off:
        why = f"{name} was taken out of autograd by {turned_off[-1].op}{_at(turned_off[-1].location)}."
    elif made is not None:
        why = (
            f"{name} has requires_grad=False: it is a tensor autograd does not track (the default for "
            f"tensors you create). Create it with requires_grad=True, or call "
            f"{_call_on(name, 'requires_grad_()')}, before using it."
        )
    else:
        why = (
            f"{name} has requires_grad=False: autograd does not track it. Where it came from is not known "
            f"here: a tensor created without requires_grad=True (the default), the result of an op run "
            f"under torch.no_grad(), or the output of .detach(). Running the code inside gradviz.trace() "
            f"tells which. For a gradient, create it with requires_grad=True (or call "
            f"{_call_on(name, 'requires_grad_()')}), or compute it outside torch.no_grad() and without "
            f".detach()."
        )
    grad = tensor.grad
    ending = " So its .grad is None." if grad is None else f" Its .grad ({_shown(grad)}) was set by hand."
    return why + ending


def _calls_reaching(tensor_id: int | None, calls: Sequence[BackwardCall]) -> list[BackwardCall]:
    if tensor_id is None:
        return []
    return [
        call
        for call in calls
        if call.api == "backward"
        and any(
            node.is_accumulate_grad and node.tensor is not None and node.tensor.id == tensor_id
            for node in call.nodes
        )
    ]


def _leaf(
    name: str, tensor: torch.Tensor, tensor_id: int | None, calls: Sequence[BackwardCall], traced: bool
) -> str:
    grad = tensor.grad
    reaching = _calls_reaching(tensor_id, calls)
    if grad is None:
        if reaching:
            return f"{name} is a leaf, but its .grad is None: it was set to None after the last backward."
        if calls:
            return (
                f"{name} is a leaf with requires_grad=True, but none of the {len(calls)} captured backward "
                f"call(s) reached it: it is not connected to the loss (no chain of grad_fn.next_functions "
                f"leads from the loss to {_it(name)}), so .grad is still None."
            )
        if traced:
            return (
                f"{name} is a leaf with requires_grad=True, but no backward call has reached it yet, so "
                f".grad is None."
            )
        return (
            f"{name} is a leaf with requires_grad=True and its .grad is None. Outside a trace gradviz cannot "
            f"see its history: either no backward call has reached it since it was created or since its "
            f".grad was last set to None (optimizer.zero_grad() does that), or it is not connected to the "
            f"loss. Running the code inside gradviz.trace() tells which."
        )
    if len(reaching) > 1:
        lines = ", ".join(f"call {call.index}{_at(call.location)}" for call in reaching)
        return (
            f"{_grad_of(name)} = {_shown(grad)} is the sum over {len(reaching)} backward calls ({lines}): "
            f"backward adds into .grad instead of replacing it. Call optimizer.zero_grad() (or set "
            f"{_grad_of(name)} = None) between steps if you want one step's gradient."
        )
    if len(reaching) == 1:
        call = reaching[0]
        before = next(
            (n.tensor.grad_before for n in call.nodes if n.tensor is not None and n.tensor.id == tensor_id),
            None,
        )
        extra = (
            " It already held a gradient before that call, which was added to." if before is not None else ""
        )
        return (
            f"{_grad_of(name)} = {_shown(grad)} comes from "
            f"backward call {call.index}{_at(call.location)}.{extra}"
        )
    if not traced and not bool(grad.any()):
        return (
            f"{name} is a leaf and {_grad_of(name)} is all zeros: it was most likely just zeroed "
            f"(optimizer.zero_grad(set_to_none=False) or .grad.zero_() does that) and no backward call has "
            f"added into it since."
        )
    return (
        f"{name} is a leaf: {_grad_of(name)} = {_shown(grad)} is the sum of the gradients of every backward "
        f"call that reached it since it was last zeroed."
    )


def explain(
    tensor: torch.Tensor,
    events: Sequence[Event] | None,
    calls: Sequence[BackwardCall],
    *,
    tensor_id: int | None = None,
    label: str | None = None,
    calls_seen: int | None = None,
    arrivals: Sequence[Arrival] = (),
) -> str:
    """Say why ``tensor.grad`` is what it is.

    Args:
        tensor: Any tensor.
        events: The forward timeline of the active (or last) trace, or None without one: then the
            answer comes from the tensor alone (is_leaf, requires_grad, grad_fn, retains_grad).
        calls: The captured backward calls (empty without a trace).
        tensor_id: gradviz's id of the tensor in ``events``; looked up in the latest recorder if omitted.
        label: The user's name for the tensor; found among the caller's variables if omitted.
        calls_seen: Every backward/grad call seen, captured or not (``Tracer.backward_calls``).
        arrivals: From the leaf ledger: every call that added into the tensor's ``.grad``, captured or
            not, with whether ``.grad`` had been zeroed before it. Without them, the captured calls that
            reached the tensor are counted.

    Returns:
        A few sentences, ready to print.
    """
    name = label or _name_in_caller(tensor) or UNNAMED
    timeline: Sequence[Event] = events or ()
    if tensor_id is None and events is not None:
        recorder = latest_recorder()
        tensor_id = recorder.tensor_id(tensor) if recorder is not None else None
    if not tensor.requires_grad:
        text = _why_no_grad(name, tensor, tensor_id, timeline)
    elif tensor.grad_fn is not None:
        if tensor.retains_grad:
            grad = tensor.grad
            held = "no backward has reached it yet" if grad is None else f"it holds {_shown(grad)}"
            text = (
                f"{name} is not a leaf, but retain_grad() was called on it, so backward fills .grad: {held}."
            )
        elif (copied := copy_explanation(name, tensor)) is not None:
            text = copied
        else:
            made = next((e for e in timeline if tensor_id is not None and tensor_id in e.outputs), None)
            text = (
                f"{name} is not a leaf: it was computed by an op (grad_fn={type(tensor.grad_fn).__name__}"
                f"{_at(made.location) if made is not None else ''}). Autograd passes gradients through "
                f"non-leaves without keeping them, so its .grad stays None. Call "
                f"{_call_on(name, 'retain_grad()')} before backward to keep it, or get it with "
                f"torch.autograd.grad(loss, {_it(name)})."
            )
    elif arrivals:
        text = from_ledger(name, tensor, arrivals, calls)
    else:
        text = _leaf(name, tensor, tensor_id, calls, events is not None)
        if calls_seen is not None and calls_seen > len(calls) and tensor.grad is not None:
            text += (
                f" {calls_seen - len(calls)} later backward call(s) were counted but not captured "
                f"(beyond --max-backward); any of them that reached {_it(name)} added into its .grad "
                f"too."
            )
    edits = [
        e for e in timeline if e.kind == "data_write" and tensor_id is not None and tensor_id in e.outputs
    ]
    if edits:
        where = "; ".join(_at(e.location).removeprefix(" at ") or "(unknown line)" for e in edits[:3])
        text += (
            f" Its values were also changed through .data ({where}): autograd did not record that, and "
            f"any backward node that had saved {_it(name)} used the new values."
        )
    unnamed = text.startswith((UNNAMED, _grad_of(UNNAMED)))
    return text[:1].upper() + text[1:] if unnamed else text
