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
are read just before and just after each call (`gradviz.capture.leaffollow`). A fault there switches
leaf following off (`gradviz.capture.door`), and backward carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import torch

from gradviz.capture.accumulation import carried_warning, summed_note
from gradviz.capture.door import Door, Part
from gradviz.capture.leaffollow import Follower, Reached
from gradviz.capture.leafstate import (
    SAMPLED_CALLS,
    Arrival,
    LeafState,
    ValuePrint,
    changed,
    is_nonzero,
    value_print,
    value_prints,
)
from gradviz.capture.ledgervalues import shown
from gradviz.capture.summary import Snapshot
from gradviz.capture.tensormap import TensorMap
from gradviz.capture.wording import at
from gradviz.model import BackwardCall, Finding, LeafSummary, Location, TensorInfo, Value

if TYPE_CHECKING:
    from gradviz.capture.call import CallPlan

__all__ = ["Arrival", "LeafLedger", "leaves_part"]

_new = tuple.__new__  # an `Arrival` made without its Python-level __new__ (one per leaf and call)


def leaves_part(door: Door) -> Part:
    """The part of capture that following leaves is: a fault in reading them switches it off."""
    return door.part("leaf following", "later calls are counted without following their leaves")


class LeafLedger:
    """Per leaf: its name, every gradient arrival, and the accumulation findings they lead to.

    Args:
        part: The part of capture its reads belong to; by default, one of a door of its own.
    """

    def __init__(self, part: Part | None = None) -> None:
        self.part = part if part is not None else leaves_part(Door())
        self._states: TensorMap = TensorMap()
        self._order: list[LeafState] = []
        self._following = False
        self._follower = Follower()
        self._carrying = False  # whether any leaf may hold a carried-over gradient
        self._reported: TensorMap = TensorMap()
        self._summed: list[tuple[str | None, tuple[int, ...]]] = []
        self._summed_calls: list[int] = []
        self._summed_where: Location | None = None
        self.findings: list[Finding] = []
        self._group: tuple[str, list[str], int | None, Finding] | None = None
        #: Told, after each counted call, the leaves it added into: (leaf, its state, whether .grad held a
        #: gradient before, .grad after) each (the ledger a student reads, capture/ledgerbook.py).
        self.on_settled: Callable[[list[Reached]], None] | None = None

    # ----- leaves and names ----------------------------------------------------------------------

    def _state(self, leaf: torch.Tensor, label: str | None = None) -> LeafState:
        state: LeafState | None = self._states.get(leaf)
        if state is None:
            state = LeafState(label=label)
            self._states[leaf] = state
        elif state.label is None and label is not None:
            state.label = label
        return state

    def learn_label(self, leaf: torch.Tensor, info: TensorInfo | None) -> None:
        """Remember a leaf of a captured call and its name (None if it has none), for later calls."""
        self._state(leaf, info.label if info is not None else None)

    def learn_labels(
        self, leaves: Sequence[torch.Tensor], infos: Sequence[TensorInfo | None]
    ) -> list[LeafState]:
        """`learn_label` for each leaf of a captured call; returns their states, in order."""
        states, get = [], self._states.get
        for leaf, info in zip(leaves, infos, strict=True):
            label = info.label if info is not None else None
            state: LeafState | None = get(leaf)
            if state is None:
                state = self._states[leaf] = LeafState(label=label)
            elif state.label is None and label is not None:
                state.label = label
            states.append(state)
        return states

    def label(self, leaf: torch.Tensor) -> str | None:
        """The name learnt for a leaf, where one was."""
        state: LeafState | None = self._states.get(leaf)
        return state.label if state is not None else None

    def arrivals(self, leaf: torch.Tensor) -> tuple[Arrival, ...]:
        """The calls that added into this leaf's ``.grad`` since it was last empty or zero, and the one
        before them, in order (empty for a leaf never seen)."""
        state: LeafState | None = self._states.get(leaf)
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
        state: LeafState | None = None,
        now: ValuePrint | None = None,
    ) -> None:
        state = state if state is not None else self._state(leaf)
        if now is None:
            now = value_print(leaf, sampled=captured or state.uncaptured <= SAMPLED_CALLS)
        updated = state.seen is not None and changed(now, state.seen)
        if not held:
            state.carried, state.carried_calls = None, []
        elif state.carried is not None and changed(now, state.carried):
            self._used_carried(leaf, state, f"before backward call {call}{at(where)}", where, by_hand=True)
        elif updated:
            state.carried, state.carried_calls = now, [call]
            self._carrying = True
        else:
            if state.carried is not None:
                state.carried_calls.append(call)
            self._note_summed(state.label, tuple(leaf.shape), call, where)
        state.seen = now
        state.arrive(_new(Arrival, (call, held, updated, after, captured)))

    def _used_carried(
        self, leaf: torch.Tensor, state: LeafState, by: str, where: Location | None, by_hand: bool = False
    ) -> None:
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
        finding = carried_warning(names, first_call, by, where, label, by_hand=by_hand)
        self.findings.append(finding)
        self._group = (by, names, first_call, finding)

    def accumulation_findings(self, plan: CallPlan, call: BackwardCall) -> list[Finding]:
        """Feed the ledger with a captured call's leaves; returns the warnings it led to."""
        if call.api != "backward":
            return []
        ran = {step.node for step in call.steps}
        before = len(self.findings)
        nodes, fns = call.graph.nodes, plan.walked.fns
        states: Sequence[LeafState | None] = plan.leaf_states or [None] * len(plan.leaf_ids)
        reached = [
            (fns[node_id].variable, info, state)
            for node_id, state in zip(plan.leaf_ids, states, strict=True)
            if node_id in ran and (info := nodes[node_id].tensor) is not None
        ]
        index, location, arrive = call.index, call.location, self._arrive
        prints = value_prints([leaf for leaf, _, _ in reached])
        for (leaf, info, state), now in zip(reached, prints, strict=True):
            arrive(leaf, is_nonzero(info.grad_before), index, location, info.grad_after, True, state, now)
        return self.findings[before:]

    @property
    def carrying(self) -> bool:
        """Whether any leaf may hold a carried-over gradient (`stepped` has something to look at)."""
        return self._carrying

    def stepped(self, params: Iterable[torch.Tensor], where: Callable[[], Location | None]) -> list[Finding]:
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
            state: LeafState | None = self._states.get(param)
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
                self._used_carried(leaf, state, "by the end of the run", None, by_hand=True)
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
        """Follow every leaf the captured calls saw through the calls that are not captured."""
        self._following = True
        self._follower.follow(self._states.items())

    def swapped(self, leaf: torch.Tensor) -> None:
        """After ``torch.utils.swap_tensors``: nothing to redo (leaves are read, not hooked)."""

    def unfollow(self) -> None:
        """Follow no more leaves."""
        self._following = False
        self._follower.clear()

    def before_call(self) -> None:
        """Before an uncaptured call reaches the engine: each followed ``.grad``, and whether it held one."""
        if self._following:
            self._follower.before_call()

    def failed(self) -> None:
        """An uncaptured call raised: nothing to settle, and nothing noted before it is held any more."""
        self._follower.let_go()

    def settle(self, call_index: int) -> list[Finding]:
        """After an uncaptured call: feed the ledger with the leaves it added into; returns new warnings."""
        before = len(self.findings)
        reached = self._follower.reached()
        for leaf, state, held, grad in reached:
            state.uncaptured += 1
            if not state.listed:
                state.listed = True
                self._order.append(state)
            state.grad = grad
            if held or state.carried is not None or state.uncaptured <= SAMPLED_CALLS:
                self._arrive(leaf, held, call_index, None, grad, False, state)
                continue
            # A fresh .grad with nothing carried: the rule only moves the print (version and address).
            version, address, seen = leaf._version, leaf.data_ptr(), state.seen
            state.seen = (version, address, ())
            updated = seen is not None and (seen[0] != version or seen[1] != address)
            arrivals = state.arrivals  # LeafState.arrive for an arrival into an empty .grad, inlined
            if len(arrivals) > 1:
                del arrivals[:-1]
            arrivals.append(_new(Arrival, (call_index, False, updated, grad, False)))
        if reached and self.on_settled is not None:
            self.on_settled(reached)
        return self.findings[before:]

    def summaries(self) -> tuple[LeafSummary, ...]:
        """Per followed leaf: how many uncaptured calls changed its ``.grad``, and its last ``.grad``."""
        return tuple(
            LeafSummary(label=state.label, calls=state.uncaptured, grad_after=shown(state.grad))
            for state in self._order
        )
