"""What happens to each leaf's ``.grad`` across backward calls: accumulation, and uncaptured calls.

Leaves are tracked by weak reference (``WeakIdKeyDictionary``), so tracing a long training loop never
keeps a tensor alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

from gradviz.capture.graph import walk
from gradviz.capture.summary import dtype_name
from gradviz.model import Api, BackwardCall, Finding, LeafSummary, TensorInfo, Value

if TYPE_CHECKING:
    from gradviz.capture.call import CallPlan


@dataclass
class _LeafRecord:
    label: str | None
    calls: int = 0
    grad: Value | None = None


@dataclass
class Watch:
    """Leaves of one uncaptured call, held only until the call has run.

    Attributes:
        named: Leaves that took part in a captured call (parameters, mostly): tracked one by one.
        unnamed: Whether the call also reached leaves no captured call saw (new ones each
            iteration, say); those are only counted together, so a long loop stays bounded.
        had_gradient: Leaves whose ``.grad`` was already non-zero before the call.
    """

    named: list[torch.Tensor] = field(default_factory=list)
    unnamed: bool = False
    had_gradient: list[torch.Tensor] = field(default_factory=list)


def _is_nonzero(value: Value | None) -> bool:
    return value is not None and (value.norm is None or value.norm != 0.0)


class LeafLedger:
    """Labels, accumulation warnings (once per leaf) and uncaptured-call summaries."""

    def __init__(self) -> None:
        self._labels: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._reported: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._uncaptured: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._records: list[_LeafRecord] = []
        self._unnamed_calls = 0
        self._unnamed_reported = False

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

    def watch(self, t_outputs: Sequence[Any], api: Api) -> Watch:
        """Note the leaves an uncaptured ``backward`` call will accumulate into, before it runs."""
        watch = Watch()
        if api != "backward":
            return watch
        for fn in walk(t_outputs).fns:
            if type(fn).__name__ != "AccumulateGrad":
                continue
            leaf = fn.variable
            named = leaf in self._labels
            if named:
                watch.named.append(leaf)
            else:
                watch.unnamed = True
            if (named and leaf in self._reported) or (not named and self._unnamed_reported):
                continue
            if leaf.grad is not None and bool(leaf.grad.detach().ne(0).any()):
                watch.had_gradient.append(leaf)
        return watch

    def settle(self, watch: Watch, call_index: int) -> list[Finding]:
        """Record an uncaptured call's effect on each leaf's ``.grad``, after it has run."""
        grads = [(leaf, leaf.grad) for leaf in watch.named if leaf.grad is not None]
        norms = torch._foreach_norm([grad.detach() for _, grad in grads if grad is not None]) if grads else []
        for (leaf, grad), norm in zip(grads, norms, strict=True):
            assert grad is not None
            record: _LeafRecord | None = self._uncaptured.get(leaf)  # type: ignore[no-untyped-call]
            if record is None:
                record = _LeafRecord(label=self._labels.get(leaf))  # type: ignore[no-untyped-call]
                self._uncaptured[leaf] = record
                self._records.append(record)
            record.calls += 1
            record.grad = Value(shape=tuple(grad.shape), dtype=dtype_name(grad.dtype), norm=float(norm))
        self._unnamed_calls += watch.unnamed
        accumulated: list[tuple[str | None, Sequence[int]]] = []
        for leaf in watch.had_gradient:
            label = self._labels.get(leaf)  # type: ignore[no-untyped-call]
            if leaf not in self._labels:
                if self._unnamed_reported:
                    continue
                self._unnamed_reported = True
            self._reported[leaf] = True
            accumulated.append((label, leaf.shape))
        return _accumulation_finding(accumulated, call_index, None)

    def summaries(self) -> tuple[LeafSummary, ...]:
        """Per named leaf, how many uncaptured calls changed its ``.grad`` and its ``.grad`` after the last.

        Leaves no captured call saw come last, together, as one summary with neither label nor grad.
        """
        named = tuple(
            LeafSummary(label=record.label, calls=record.calls, grad_after=record.grad)
            for record in self._records
        )
        if not self._unnamed_calls:
            return named
        return (*named, LeafSummary(label=None, calls=self._unnamed_calls))


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
