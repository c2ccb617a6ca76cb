"""Why a leaf's ``.grad`` holds what it holds, read from the leaf ledger: each call's gradient, the zeroings.

Backward adds into ``.grad``; ``optimizer.zero_grad()``, ``p.grad = None``, ``p.grad.zero_()`` and
``p.grad.data.zero_()`` start it again. The ledger records, for every call that added into the leaf,
whether ``.grad`` held a gradient just before (if not, it had been zeroed) and whether the leaf was
updated since the previous call, so the answer counts only the calls since the last zeroing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gradviz.capture.leaves import Arrival
from gradviz.capture.wording import at
from gradviz.model import BackwardCall, Location

#: Relative difference of norms above which ``.grad`` was changed after the last call that added into it.
_CHANGED = 1e-5


def _shown(grad: torch.Tensor) -> str:
    if grad.numel() <= 8:
        return f"{grad.detach().tolist()}"
    return f"a tensor of shape {list(grad.shape)}"


def _call_name(arrival: Arrival, lines: dict[int, Location | None]) -> str:
    return f"backward call {arrival.call}{at(lines.get(arrival.call))}"


def _calls(run: Sequence[Arrival]) -> str:
    numbers = [str(arrival.call) for arrival in run]
    if len(numbers) > 6:
        return ", ".join(numbers[:3]) + f", ... {numbers[-1]}"
    return ", ".join(numbers)


def _changed_since(grad: torch.Tensor, last: Arrival) -> bool:
    after = last.grad_after
    if after is None or after.norm is None:
        return False
    norm = float(torch.linalg.vector_norm(grad.detach().to(torch.float64)))
    return not math.isclose(norm, after.norm, rel_tol=_CHANGED, abs_tol=1e-12)


def from_ledger(
    name: str, tensor: torch.Tensor, arrivals: Sequence[Arrival], calls: Sequence[BackwardCall]
) -> str:
    """Explain a leaf's ``.grad`` from the calls that added into it.

    Args:
        name: The leaf's name (``fc1.weight``).
        tensor: The leaf.
        arrivals: Every call that added into its ``.grad``, in order (not empty).
        calls: The captured calls, for their lines.

    Returns:
        A few sentences.
    """
    lines = {call.index: call.location for call in calls}
    last = arrivals[-1]
    grad = tensor.grad
    after = f"after {_call_name(last, lines)}"
    if grad is None:
        return (
            f"{name}.grad is None: it was set to None {after} (optimizer.zero_grad() does that by default, "
            f"as does {name}.grad = None). The next backward that reaches {name} starts it afresh."
        )
    if last.grad_after is not None and last.grad_after.norm not in (None, 0.0) and not bool(grad.ne(0).any()):
        return (
            f"{name}.grad is all zeros: it was zeroed in place {after} (optimizer.zero_grad("
            f"set_to_none=False), {name}.grad.zero_()). The next backward adds into them."
        )
    if _changed_since(grad, last):
        return (
            f"{name}.grad = {_shown(grad)} was changed by hand {after}: it is not what backward left there."
        )
    start = max((i for i, arrival in enumerate(arrivals) if not arrival.held), default=0)
    run = arrivals[start:]
    zeroed = "since .grad was last empty or zeroed" if start > 0 or not run[0].held else "in this trace"
    if len(run) == 1:
        alone = f"comes from {_call_name(last, lines)} alone"
        return f"{name}.grad = {_shown(grad)} {alone}: .grad was empty (or zero) before it."
    text = (
        f"{name}.grad = {_shown(grad)} is the sum over {len(run)} backward calls {zeroed} "
        f"(calls {_calls(run)}): backward adds into .grad instead of replacing it."
    )
    updated = [arrival for arrival in run[1:] if arrival.updated]
    if updated:
        return text + (
            f" {name} was updated in between (before call {updated[0].call}) without zeroing, so the old "
            f"gradients are still in it. Call optimizer.zero_grad() (or set {name}.grad = None) once per "
            f"step."
        )
    return text + f" {name} was not updated in between: that is gradient accumulation."
