"""What the leaf ledger keeps per leaf: cheap prints of its value, and the calls that added into ``.grad``.

A print is the leaf's ``_version``, its data address and a few of its values: ``optimizer.step()`` and
in-place updates under ``no_grad`` bump ``_version``, ``x.data = ...`` moves the data, and an in-place
edit through ``.data`` changes only the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from gradviz.capture.ledgervalues import shown
from gradviz.capture.summary import Snapshot, _detach, _flat
from gradviz.model import Value

#: Elements of a leaf compared to notice that its value changed (an update changes nearly all of them).
_SAMPLE = 8

#: Calls past the budget whose leaf values are sampled: later, an update is seen by its version counter
#: or data address only, so an update through ``.data`` alone goes unseen (a forgotten zeroing shows at
#: the first steps).
SAMPLED_CALLS = 50

ValuePrint = tuple[int, int, tuple[float, ...]]
_as_strided = torch._C.TensorBase.as_strided
_new = tuple.__new__  # an `Arrival` made without its Python-level __new__
_FLOAT32, _STRIDED = torch.float32, torch.strided


def value_print(leaf: torch.Tensor, *, sampled: bool = True) -> ValuePrint:
    """What identifies a leaf's current value cheaply: ``_version``, data address, a strided sample.

    Not `sampled`, the print has no values and `changed` compares version and address alone.
    """
    if not sampled:
        return (int(leaf._version), leaf.data_ptr(), ())
    data = _detach(leaf)
    count = data.numel()
    if not count or data.is_meta:  # a meta tensor has a shape but no data to sample
        sample: tuple[float, ...] = ()
    elif count <= _SAMPLE:  # every element: no tensor op beyond reading them
        listed = data.tolist()
        sample = tuple(map(float, _flat(listed, data.dim())))
    else:
        sample = tuple(map(float, data.reshape(-1)[:: count // _SAMPLE][:_SAMPLE].tolist()))
    return (int(leaf._version), data.data_ptr(), sample)


def value_prints(leaves: Sequence[torch.Tensor]) -> list[ValuePrint]:
    """`value_print` of each leaf (sampled), read with as few tensor ops as it allows.

    Args:
        leaves: The leaves of one captured call.

    Returns:
        Their prints, in order: the same as `value_print` gives one by one.
    """
    prints: list[ValuePrint] = []
    append = prints.append
    with torch.no_grad():  # the views below join no graph, as views of a detached leaf would not
        for leaf in leaves:
            count = leaf.numel()
            if (
                not count
                or leaf.dtype != _FLOAT32
                or not leaf.is_cpu
                or leaf.layout != _STRIDED
                or not leaf.is_contiguous()
            ):
                append(value_print(leaf))
                continue
            if count > _SAMPLE:
                # The same elements as value_print's data.reshape(-1)[::step][:_SAMPLE], as one view.
                view = _as_strided(leaf, (_SAMPLE,), (count // _SAMPLE,), leaf.storage_offset())
            else:
                view = leaf.view(-1)
            # A few float32 elements in CPU memory: reading each view is cheaper than joining them first.
            append((int(leaf._version), leaf.data_ptr(), tuple(view.tolist())))
    return prints


def changed(now: ValuePrint, then: ValuePrint) -> bool:
    """Whether a leaf's value changed between two prints (samples compared when both have one)."""
    return now[:2] != then[:2] or (bool(now[2]) and bool(then[2]) and now[2] != then[2])


def holds_any(grad: torch.Tensor) -> bool:
    """Whether a ``.grad`` holds a non-zero element (a NaN counts), whatever its layout.

    A sparse gradient (``nn.Embedding(sparse=True)``) has no dense ``ne``: its stored values are read.
    """
    layout = grad.layout
    if layout == torch.strided:
        return bool(_detach(grad).ne(0).any())
    if layout == torch.sparse_coo:
        # Duplicate indices of an uncoalesced gradient add up: coalesce before reading the values.
        values = _detach(grad).coalesce()._values()
    elif layout in (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc):
        values = _detach(grad).values()
    else:  # a layout with no values to read: assume it holds some (a carried gradient is then looked at)
        return True
    return bool(values.ne(0).any())


def is_nonzero(value: Value | None) -> bool:
    """Whether a recorded gradient held anything (an unknown norm counts as held)."""
    return value is not None and (value.norm is None or value.norm != 0.0)


class Arrival(NamedTuple):
    """One backward call that added a gradient into a leaf's ``.grad``.

    Attributes:
        call: 1-based index of the call.
        held: Whether ``.grad`` held a non-zero gradient just before (nothing zeroed it since the last call).
        updated: Whether the leaf's value changed since the previous arrival (an update ran in between).
        grad: ``.grad`` after the call (only the norm for a large one past the capture budget); read it
            as `grad_after`.
        captured: Whether the call was captured in full.
    """

    call: int
    held: bool
    updated: bool
    grad: Value | Snapshot | None
    captured: bool

    @property
    def grad_after(self) -> Value | None:
        """``.grad`` after the call."""
        return shown(self.grad)


@dataclass
class LeafState:
    """One leaf in the ledger: its name, prints, arrivals, and what the last call past the budget left."""

    label: str | None
    seen: ValuePrint | None = None
    carried: ValuePrint | None = None
    carried_calls: list[int] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    uncaptured: int = 0
    grad: Value | Snapshot | None = None
    listed: bool = False
    #: The ledger book's record of this leaf, kept here so a call past the budget finds it without a lookup.
    book: Any = None

    def arrive(self, arrival: Arrival) -> None:
        """Add a call's arrival. Explain reads the calls since ``.grad`` was last empty and the last one's
        gradient, so a held ``.grad`` drops the gradient of the arrival before: a script that never
        empties ``.grad`` keeps a few bytes per call, not a copy of the gradient."""
        arrivals = self.arrivals
        if not arrival.held:
            if len(arrivals) > 1:
                del arrivals[:-1]
        elif arrivals and arrivals[-1].grad is not None:
            call, held, updated, _, captured = arrivals[-1]
            arrivals[-1] = _new(Arrival, (call, held, updated, None, captured))  # _replace(grad=None)
        arrivals.append(arrival)
