"""What happens to each leaf's ``.grad`` across backward calls: accumulation, and uncaptured calls.

Once the captured calls are done, the leaves they saw (a model's parameters, mostly) are followed
through two hooks each instead of walking every later graph: a tensor hook notes a non-zero ``.grad``
before a gradient arrives, and a post-accumulate hook counts the accumulation and takes the new
``.grad``'s norm. Leaves are held by weak reference only, so tracing a long loop never keeps a tensor
alive, and the hooks are removed when tracing ends. The hooks go through the door
(`gradviz.capture.door`): a fault in one switches leaf following off, and backward carries on.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

from gradviz.capture.door import Door, Part
from gradviz.capture.summary import dtype_name
from gradviz.model import BackwardCall, Finding, LeafSummary, TensorInfo, Value

if TYPE_CHECKING:
    from gradviz.capture.call import CallPlan


@dataclass
class _LeafRecord:
    label: str | None
    calls: int = 0
    grad: Value | None = None


def _is_nonzero(value: Value | None) -> bool:
    return value is not None and (value.norm is None or value.norm != 0.0)


def leaves_part(door: Door) -> Part:
    """The part of capture that following leaves is: a fault in a leaf hook switches it off."""
    return door.part("leaf following", "later calls are counted without following their leaves")


class _Faults:
    """Stands where a list of problem messages would: each message appended is a fault of the part."""

    def __init__(self, part: Part) -> None:
        self._part = part

    def append(self, message: str) -> None:
        self._part.fault(None, what=message)


class LeafLedger:
    """Labels, accumulation warnings (once per leaf) and uncaptured-call summaries.

    Args:
        part: The part of capture its hooks belong to; by default, one of a door of its own.
    """

    def __init__(self, part: Part | None = None) -> None:
        self.part = part if part is not None else leaves_part(Door())
        self._labels: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._reported: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._records: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._order: list[_LeafRecord] = []
        self._handles: list[Any] = []
        self._had_gradient: list[torch.Tensor] = []
        self._accumulated: list[torch.Tensor] = []
        self.problems = _Faults(self.part)

    def learn_label(self, leaf: torch.Tensor, info: TensorInfo | None) -> None:
        """Remember a leaf of a captured call and its name (None if it has none), for later calls."""
        if self._labels.get(leaf) is None:  # type: ignore[no-untyped-call]
            self._labels[leaf] = info.label if info is not None else None

    def accumulation_findings(self, plan: CallPlan, call: BackwardCall) -> list[Finding]:
        """Leaves this captured call added into while their ``.grad`` already held a gradient."""
        if call.api != "backward":
            return []
        ran = {step.node for step in call.steps}
        accumulated: list[tuple[str | None, Sequence[int]]] = []
        for node_id in plan.leaf_ids:
            info = call.graph.nodes[node_id].tensor
            leaf = plan.walked.fns[node_id].variable
            if (
                node_id not in ran
                or info is None
                or leaf in self._reported
                or not _is_nonzero(info.grad_before)
            ):
                continue
            self._reported[leaf] = True
            accumulated.append((info.label, info.shape))
        return _accumulation_finding(accumulated, call.index, call.location)

    def follow(self) -> None:
        """Hook every leaf the captured calls saw, to follow it through the calls that are not captured.

        Each hook goes through the door: once a fault switched leaf following off, the hooks do nothing
        (`unfollow` removes them).
        """
        part = self.part
        for leaf in list(self._labels.keys()):  # type: ignore[no-untyped-call]
            try:
                arriving = part.hook(partial(self._arriving, weakref.ref(leaf)))
                self._handles.append(leaf.register_hook(arriving))
                self._handles.append(leaf.register_post_accumulate_grad_hook(part.hook(self._accumulating)))
            except RuntimeError as error:  # a leaf that no longer requires grad has nothing to follow
                part.report("unhookable", f"cannot follow a leaf's .grad ({error})")

    def unfollow(self) -> None:
        """Remove every hook `follow` registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _arriving(self, leaf_ref: weakref.ref[torch.Tensor], grad: torch.Tensor) -> None:
        leaf = leaf_ref()
        try:
            grad_now = leaf.grad if leaf is not None and leaf not in self._reported else None
            if leaf is not None and grad_now is not None and bool(grad_now.detach().ne(0).any()):
                self._had_gradient.append(leaf)
        except Exception as error:  # a hook must never break the user's backward
            self.problems.append(f"cannot check a leaf's .grad ({error})")

    def _accumulating(self, leaf: torch.Tensor) -> None:
        try:
            record: _LeafRecord | None = self._records.get(leaf)  # type: ignore[no-untyped-call]
            if record is None:
                record = _LeafRecord(label=self._labels.get(leaf))  # type: ignore[no-untyped-call]
                self._records[leaf] = record
                self._order.append(record)
            record.calls += 1
            grad = leaf.grad
            if grad is not None:
                norm = float(torch.linalg.vector_norm(grad.detach()))
                record.grad = Value(shape=tuple(grad.shape), dtype=dtype_name(grad.dtype), norm=norm)
            if any(seen is leaf for seen in self._had_gradient):
                self._accumulated.append(leaf)
        except Exception as error:  # a hook must never break the user's backward
            self.problems.append(f"cannot follow a leaf's .grad ({error})")

    def settle(self, call_index: int) -> list[Finding]:
        """After an uncaptured call: the accumulation warning for the leaves it added into, if any."""
        accumulated: list[tuple[str | None, Sequence[int]]] = []
        for leaf in self._accumulated:
            if leaf not in self._reported:
                self._reported[leaf] = True
                accumulated.append((self._labels.get(leaf), leaf.shape))  # type: ignore[no-untyped-call]
        self._had_gradient.clear()
        self._accumulated.clear()
        return _accumulation_finding(accumulated, call_index, None)

    def summaries(self) -> tuple[LeafSummary, ...]:
        """Per followed leaf: how many uncaptured calls changed its ``.grad``, and its last ``.grad``."""
        return tuple(
            LeafSummary(label=record.label, calls=record.calls, grad_after=record.grad)
            for record in self._order
        )


#: Leaves named in one accumulation warning before the rest are counted.
_NAMED_IN_WARNING = 6


def _accumulation_finding(
    leaves: Sequence[tuple[str | None, Sequence[int]]], call_index: int, location: Any
) -> list[Finding]:
    """One warning for all the leaves a call accumulated into (each leaf is warned about only once)."""
    if not leaves:
        return []
    names = [
        f"{label}.grad" if label else f"the .grad of a leaf of shape {list(shape)}" for label, shape in leaves
    ]
    grads = ", ".join(names[:_NAMED_IN_WARNING])
    if len(names) > _NAMED_IN_WARNING:
        grads += f" and {len(names) - _NAMED_IN_WARNING} more"
    one = len(names) == 1
    held = "already held a gradient" if one else "already held gradients"
    added = "gradient was added to it, not put in its place" if one else "gradients were added to them"
    where = f" at {location}" if location is not None else ""
    message = (
        f"{grads} {held} when backward call {call_index}{where} ran, so the new {added}. If each step "
        f"should start fresh, call optimizer.zero_grad() (or set .grad = None) before backward()."
    )
    label = leaves[0][0] if one else None
    return [Finding(kind="accumulation", message=message, location=location, call=call_index, label=label)]
