"""What happens to each leaf's ``.grad`` across backward calls: the ledger behind accumulation and explain.

Backward adds into ``.grad``. Summing several calls before one update is gradient accumulation, and
correct. It is a bug only when nothing zeroed ``.grad`` between two updates of the leaf, so that an update
applies gradients from before the previous one. The ledger tells the two apart with one rule: a gradient
that arrives into a non-zero ``.grad`` after the leaf's value changed is *carried over*; an update that
then changes the value again while it is still carried (an ``optimizer.step()``, seen through torch's
global step hook, or a manual update, seen at the next arrival or at the end) used it, and that is the
warning. A GAN's generator step that adds into the discriminator's ``.grad`` is zeroed before the
discriminator's next step, so it stays silent.

Captured calls report their leaves with ``.grad`` before and after; after the budget the leaves they saw
are followed through one tensor hook each: the first to fire in a call reads every followed ``.grad``
before anything accumulates, and after the call a ``.grad`` that is another tensor or has a new version
is one the call added into. Leaves are held by weak reference only, and every hook is removed when
tracing ends. The hooks go through the door (`gradviz.capture.door`): a fault in one switches leaf
following off, and backward carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from gradviz.capture.accumulation import carried_warning, summed_note
from gradviz.capture.door import OWN_HOOK, Door, Part
from gradviz.capture.ledgerbook import shown
from gradviz.capture.summary import Snapshot, _detach, _flat, dtype_name, snapshot, summarize
from gradviz.capture.tensorrefs import TensorMap, TensorRef, tensor_ref
from gradviz.capture.wording import at
from gradviz.model import BackwardCall, Finding, LeafSummary, Location, TensorInfo, Value

if TYPE_CHECKING:
    from gradviz.capture.call import CallPlan

#: Elements of a leaf compared to notice that its value changed (an update changes nearly all of them).
_SAMPLE = 8

#: Gradients with at most this many elements keep their values after the capture budget.
_SMALL = 8

#: Calls past the budget whose leaf values are sampled: later, an update is seen by its version counter
#: or data address only, so an update through ``.data`` alone goes unseen (a forgotten zeroing shows at
#: the first steps).
SAMPLED_CALLS = 50

ValuePrint = tuple[int, int, tuple[float, ...]]
_task_id = torch._C._current_graph_task_id


def value_print(leaf: torch.Tensor, *, sampled: bool = True) -> ValuePrint:
    """What identifies a leaf's current value cheaply: ``_version``, data address, a strided sample.

    ``optimizer.step()`` and in-place updates under ``no_grad`` bump ``_version``; ``x.data = ...`` moves
    the data; an in-place edit through ``.data`` changes neither, only the values (not `sampled`,
    the print has none and `changed` compares version and address alone).
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


def changed(now: ValuePrint, then: ValuePrint) -> bool:
    """Whether a leaf's value changed between two prints (samples compared when both have one)."""
    return now[:2] != then[:2] or (bool(now[2]) and bool(then[2]) and now[2] != then[2])


@dataclass(frozen=True, slots=True)
class Arrival:
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
class _LeafState:
    label: str | None
    seen: ValuePrint | None = None
    carried: ValuePrint | None = None
    carried_calls: list[int] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    uncaptured: int = 0
    grad: Value | Snapshot | None = None
    listed: bool = False


#: A followed leaf before a call: its state, its ``.grad``, that tensor's version, whether it was non-zero.
_Before = tuple[TensorRef[torch.Tensor], _LeafState, torch.Tensor | None, int, bool]


def _is_nonzero(value: Value | None) -> bool:
    return value is not None and (value.norm is None or value.norm != 0.0)


def leaves_part(door: Door) -> Part:
    """The part of capture that following leaves is: a fault in a leaf hook switches it off."""
    return door.part("leaf following", "later calls are counted without following their leaves")


class LeafLedger:
    """Per leaf: its name, every gradient arrival, and the accumulation findings they lead to.

    Args:
        part: The part of capture its hooks belong to; by default, one of a door of its own.
    """

    def __init__(self, part: Part | None = None) -> None:
        self.part = part if part is not None else leaves_part(Door())
        self._states: TensorMap = TensorMap()
        self._order: list[_LeafState] = []
        self._handles: list[Any] = []
        self._following = False
        self._carrying = False  # whether any leaf may hold a carried-over gradient
        self._followed: list[tuple[TensorRef[torch.Tensor], _LeafState]] = []
        # Per followed leaf, before the current call: its .grad, that .grad's version, whether it held one.
        self._pre: list[_Before] | None = None
        self._pre_task: int | None = None
        self._reported: TensorMap = TensorMap()
        self._summed: list[tuple[str | None, tuple[int, ...]]] = []
        self._summed_calls: list[int] = []
        self._summed_where: Location | None = None
        self.findings: list[Finding] = []
        self._group: tuple[str, list[str], int | None, Finding] | None = None
        #: Told (leaf, whether .grad held a gradient before, .grad after) for each leaf a counted call
        #: added into (the ledger a student reads, capture/ledgerbook.py).
        self.on_settled: Callable[[torch.Tensor, bool, Value | Snapshot | None], None] | None = None

    # ----- leaves and names ----------------------------------------------------------------------

    def _state(self, leaf: torch.Tensor, label: str | None = None) -> _LeafState:
        state: _LeafState | None = self._states.get(leaf)
        if state is None:
            state = _LeafState(label=label)
            self._states[leaf] = state
        elif state.label is None and label is not None:
            state.label = label
        return state

    def learn_label(self, leaf: torch.Tensor, info: TensorInfo | None) -> None:
        """Remember a leaf of a captured call and its name (None if it has none), for later calls."""
        self._state(leaf, info.label if info is not None else None)

    def label(self, leaf: torch.Tensor) -> str | None:
        """The name learnt for a leaf, where one was."""
        state: _LeafState | None = self._states.get(leaf)
        return state.label if state is not None else None

    def arrivals(self, leaf: torch.Tensor) -> tuple[Arrival, ...]:
        """Every call that added into this leaf's ``.grad``, in order (empty for a leaf never seen)."""
        state: _LeafState | None = self._states.get(leaf)
        return tuple(state.arrivals) if state is not None else ()

    # ----- the rule ------------------------------------------------------------------------------

    def _arrive(
        self,
        leaf: torch.Tensor,
        held: bool,
        call: int,
        where: Location | None,
        after: Value | Snapshot | None,
        captured: bool,
        state: _LeafState | None = None,
    ) -> None:
        state = state if state is not None else self._state(leaf)
        now = value_print(leaf, sampled=captured or state.uncaptured <= SAMPLED_CALLS)
        updated = state.seen is not None and changed(now, state.seen)
        if not held:
            state.carried, state.carried_calls = None, []
        elif state.carried is not None and changed(now, state.carried):
            self._used_carried(leaf, state, f"backward call {call}{at(where)}", where)
        elif updated:
            state.carried, state.carried_calls = now, [call]
            self._carrying = True
        else:
            if state.carried is not None:
                state.carried_calls.append(call)
            self._note_summed(state.label, tuple(leaf.shape), call, where)
        state.seen = now
        state.arrivals.append(Arrival(call, held, updated, after, captured))

    def _used_carried(self, leaf: torch.Tensor, state: _LeafState, by: str, where: Location | None) -> None:
        """An update used a carried-over gradient: one warning per update, naming every leaf it hit."""
        calls = state.carried_calls
        state.carried, state.carried_calls = None, []
        if leaf in self._reported:
            return
        self._reported[leaf] = True
        name = f"{state.label}.grad" if state.label else f"the .grad of a leaf of shape {list(leaf.shape)}"
        group = self._group
        if group is not None and group[0] == by and self.findings and self.findings[-1] is group[3]:
            self.findings.pop()
            names, first_call = group[1] + [name], group[2]
        else:
            names, first_call = [name], calls[0] if calls else None
        label = state.label if len(names) == 1 else None
        finding = carried_warning(names, first_call, by, where, label)
        self.findings.append(finding)
        self._group = (by, names, first_call, finding)

    def accumulation_findings(self, plan: CallPlan, call: BackwardCall) -> list[Finding]:
        """Feed the ledger with a captured call's leaves; returns the warnings it led to."""
        if call.api != "backward":
            return []
        ran = {step.node for step in call.steps}
        before = len(self.findings)
        for node_id in plan.leaf_ids:
            info = call.graph.nodes[node_id].tensor
            if node_id in ran and info is not None:
                leaf = plan.walked.fns[node_id].variable
                self._arrive(
                    leaf, _is_nonzero(info.grad_before), call.index, call.location, info.grad_after, True
                )
        return self.findings[before:]

    def stepped(self, params: Sequence[torch.Tensor], where: Callable[[], Location | None]) -> list[Finding]:
        """After ``optimizer.step()``: a warning for each parameter it updated with a carried-over gradient.

        Args:
            params: The optimizer's parameters.
            where: Gives the user's line of the ``step()`` call (asked only when there is a warning).

        Returns:
            The new warnings.
        """
        if not self._carrying:  # the usual step: every .grad was zeroed since the last update
            return []
        before = len(self.findings)
        for param in params:
            state: _LeafState | None = self._states.get(param)
            if state is not None and state.carried is not None and changed(value_print(param), state.carried):
                line = where()
                self._used_carried(param, state, f"optimizer.step(){at(line)}", line)
        self._carrying = any(state.carried is not None for _, state in self._states.items())
        return self.findings[before:]

    def close(self) -> list[Finding]:
        """At the end of tracing: leaves updated (by hand) while still holding a carried-over gradient."""
        before = len(self.findings)
        for leaf, state in list(self._states.items()):
            if state.carried is not None and changed(value_print(leaf), state.carried):
                self._used_carried(leaf, state, "a later update", None)
        return self.findings[before:]

    def _note_summed(
        self, label: str | None, shape: tuple[int, ...], call: int, where: Location | None
    ) -> None:
        if not self._summed_calls:
            self._summed_where = where
        if not self._summed_calls or self._summed_calls[0] == call:
            self._summed.append((label, shape))
        if not self._summed_calls or self._summed_calls[-1] != call:
            self._summed_calls.append(call)

    def summed_note(self) -> Finding | None:
        """One note for gradient accumulation: calls that added into a ``.grad`` with no update in between."""
        if not self._summed_calls:
            return None
        names = [
            f"{label}.grad" if label else f"a .grad of shape {list(shape)}" for label, shape in self._summed
        ]
        return summed_note(names, self._summed_calls, self._summed_where)

    # ----- calls past the capture budget ---------------------------------------------------------

    def follow(self) -> None:
        """Follow every leaf the captured calls saw through the calls that are not captured.

        One tensor hook per leaf: the first to fire in a backward call reads every followed leaf's
        ``.grad`` before anything accumulates; `settle` then compares. Each hook goes through the door:
        once a fault switched leaf following off, the hooks do nothing (`unfollow` removes them).
        """
        self._following = True
        for leaf, state in list(self._states.items()):
            self._followed.append((tensor_ref(leaf), state))
            self._hook(leaf)

    def swapped(self, leaf: torch.Tensor) -> None:
        """After ``torch.utils.swap_tensors``: hook the leaf again (its hooks went with its old data)."""
        if self._following and leaf in self._states:
            self._hook(leaf)

    def _hook(self, leaf: torch.Tensor) -> None:
        part = self.part
        guarded = part.hook(self._arriving)
        task = _task_id

        def arriving(grad: torch.Tensor) -> None:
            if self._pre_task != task():  # once per call: the first followed leaf reached reads them all
                guarded(grad)

        arriving.__dict__[OWN_HOOK] = True
        try:
            self._handles.append(leaf.register_hook(arriving))  # type: ignore[no-untyped-call]
        except RuntimeError as error:  # a leaf that no longer requires grad has nothing to follow
            part.report("unhookable", f"cannot follow a leaf's .grad ({error})")

    def unfollow(self) -> None:
        """Remove every hook `follow` registered."""
        self._following = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pre = None

    def _arriving(self, grad: torch.Tensor) -> None:
        """Before anything accumulates in this call: each followed ``.grad``, and whether it held one."""
        self._pre_task = _task_id()
        pre: list[_Before] = []
        for ref, state in self._followed:
            leaf = ref()
            if leaf is not None:
                old = leaf.grad
                if old is None:
                    pre.append((ref, state, None, 0, False))
                else:
                    pre.append((ref, state, old, old._version, bool(_detach(old).ne(0).any())))
        self._pre = pre

    def _accumulating(self, leaf: torch.Tensor, state: _LeafState) -> None:
        """A call past the budget added into this leaf's ``.grad``."""
        state.uncaptured += 1
        if not state.listed:
            state.listed = True
            self._order.append(state)

    def settle(self, call_index: int) -> list[Finding]:
        """After an uncaptured call: feed the ledger with the leaves it added into; returns new warnings."""
        before = len(self.findings)
        pre, self._pre, self._pre_task = self._pre, None, None
        for leaf_ref, state, old, version, held in pre or ():
            leaf = leaf_ref()
            # Read once the engine is done, not as the gradient accumulates: DDP all-reduces the
            # gradients in a callback at the end of backward, after every accumulation hook ran.
            grad = leaf.grad if leaf is not None else None
            if leaf is None or grad is None or (grad is old and grad._version == version):
                continue  # not reached: accumulating replaces .grad or adds into it in place
            self._accumulating(leaf, state)
            if grad.numel() <= _SMALL and grad.layout == torch.strided:
                state.grad = snapshot(grad)  # a small gradient is shown by its values, as when captured
            elif grad.numel() <= _SMALL:
                state.grad = summarize(grad)  # a sparse one: no values to read
            else:
                norm = float(torch.linalg.vector_norm(_detach(grad)))
                state.grad = Value(shape=tuple(grad.shape), dtype=dtype_name(grad.dtype), norm=norm)
            self._arrive(leaf, held, call_index, None, state.grad, False, state)
            if self.on_settled is not None:
                self.on_settled(leaf, held, state.grad)
        return self.findings[before:]

    def summaries(self) -> tuple[LeafSummary, ...]:
        """Per followed leaf: how many uncaptured calls changed its ``.grad``, and its last ``.grad``."""
        return tuple(
            LeafSummary(label=state.label, calls=state.uncaptured, grad_after=shown(state.grad))
            for state in self._order
        )
