"""Warning or note: the verdicts that need the whole run (cuts, accumulation), made when findings are read.

A warning means "probably a bug in your code, act"; a note is an autograd effect that happened as the code
says (see docs/quirks.md). Cuts and accumulation can only be judged with hindsight: whether a cut's result
fed a later backward while the parameters upstream never received a gradient, whether a carried-over
gradient was used by an update. The `Judge` gathers what that needs while tracing (optimizer steps) and
turns it into findings on demand.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Sequence

import torch

from gradviz.capture.cutfindings import Harm, cut_finding
from gradviz.capture.cuts import Cut, CutLedger
from gradviz.capture.door import Door, Part
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.location import user_location
from gradviz.capture.optimizers import NONE, OptimizerWatch, StepCallback, param_count, params_of
from gradviz.model import BackwardCall, Event, Finding, Location, Overlay

#: Kinds of finding the forward recorder makes for cuts; the judged versions replace them.
CUT_KINDS = ("no_grad", "detach")


def judge_part(door: Door) -> Part:
    """The part of capture that judging severity is: a fault in its hooks leaves cuts as notes."""
    return door.part("severity", "cuts are listed as notes and later optimizer steps are not followed")


class Judge:
    """Decides the severity of cuts and accumulation for one tracing session.

    Args:
        leaves: The session's leaf ledger.
        cuts: The forward recorder's cut ledger, when the timeline is recorded.
        root: Files under this folder are shown relative to it.
        part: The part of capture its hooks belong to (optimizer steps, leaves upstream of cuts); by
            default, one of a door of its own.
    """

    def __init__(
        self, leaves: LeafLedger, cuts: CutLedger | None, root: str | None = None, part: Part | None = None
    ) -> None:
        self._leaves = leaves
        self._cuts = cuts
        self._root = root
        self.part = part if part is not None else judge_part(Door())
        self._optimizers = OptimizerWatch(self.part.hook(self._stepped))
        self._cut_told: weakref.ref[torch.optim.Optimizer] = NONE  # the optimizer last told to the cuts
        self._cut_count = 0  # how many parameters it held then
        if cuts is not None:
            cuts.guard = self.part.hook
        self._closed = False

    def start(self, *, hook: bool = True) -> None:
        """Watch optimizer steps; with `hook` False, through `step_hook` called from another post-hook."""
        self._optimizers.start(hook=hook)

    @property
    def step_hook(self) -> StepCallback:
        """What torch's optimizer step post-hook calls, for a caller that registers one hook for several and
        calls it inside `isolating()` (it must not raise: a fault switches this part off)."""
        return self._step_isolated

    def _step_isolated(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        self._optimizers.note(optimizer)
        part = self.part  # `Part.hook`'s guard, inlined: the caller already isolates the step
        if part.is_open:
            try:
                self._stepped(optimizer)
            except Exception as error:
                part.fault(error)

    def stop(self) -> None:
        """Stop watching: remove every hook, and judge updates made after the last gradient."""
        self._optimizers.stop()
        if self._cuts is not None:
            self._cuts.unwatch()
        if not self._closed:
            self._closed = True
            self.part.run(self._leaves.close)

    def _stepped(self, optimizer: torch.optim.Optimizer, args: object = None, kwargs: object = None) -> None:
        # Generators: each is read only when needed (a new optimizer, a carried-over gradient), not per step.
        if self._cuts is not None:
            count = param_count(optimizer)
            # The cuts know it already unless it is another optimizer or add_param_group gave it more.
            if optimizer is not self._cut_told() or count != self._cut_count:
                self._cuts.optimizer_stepped(params_of(optimizer), optimizer, count)
                self._cut_told, self._cut_count = weakref.ref(optimizer), count
        if self._leaves.carrying:  # else no parameter can hold a carried-over gradient: nothing to judge
            self._leaves.stepped(params_of(optimizer), lambda: user_location(self._root))

    def findings(
        self, found: Sequence[Finding], calls: Sequence[BackwardCall], events: Sequence[Event]
    ) -> list[Finding]:
        """Every finding with its final severity.

        Args:
            found: The findings made while tracing (the recorder's provisional cut notes are replaced).
            calls: The captured calls.
            events: The forward timeline.

        Returns:
            The findings, in no particular order.
        """
        judged = [finding for finding in found if finding.kind not in CUT_KINDS]
        judged.extend(self._leaves.findings)
        summed = self._leaves.summed_note()
        if summed is not None:
            judged.append(summed)
        if self._cuts is not None and self.part.is_open:
            cuts = list(self._cuts.cuts.values())
            # A call that raised tells nothing: its leaves may have gone without gradient for the error.
            fed = fed_calls(cuts, events, [call for call in calls if call.error is None])
            for position, cut in enumerate(cuts):
                call = fed.get(position)
                harm = self._harm(cut, call, calls) if call is not None else None
                judged.append(cut_finding(cut, harm))
        return judged

    def _harm(self, cut: Cut, call_index: int, calls: Sequence[BackwardCall]) -> Harm | None:
        assert self._cuts is not None
        got_gradient = {
            node.tensor.id
            for call in calls
            for step in call.steps
            if (node := call.graph.nodes[step.node]).is_accumulate_grad and node.tensor is not None
        }
        stepped = self._cuts.stepped
        untrained = [
            facts.label
            for facts in cut.leaves.values()
            # No optimizer holds it: a frozen feature extractor, a target network, a teacher.
            if not facts.reached and facts.tensor_id not in got_gradient and (facts.optimized or not stepped)
        ]
        if not untrained:
            return None
        call = next((call for call in calls if call.index == call_index), None)
        return Harm(call_index, call.location if call is not None else None, tuple(untrained))


def fed_calls(cuts: Sequence[Cut], events: Sequence[Event], calls: Sequence[BackwardCall]) -> dict[int, int]:
    """For each cut (by position) whose results reached a captured graph: the first such call's index.

    A cut's results are followed through ops that joined no graph (a reshape of a no_grad result, a
    ``requires_grad_()`` on a detached copy) until an op that is a node of a captured graph uses them.

    Args:
        cuts: The cut sites.
        events: The forward timeline.
        calls: The captured calls.

    Returns:
        Cut position -> call index.
    """
    in_graph: dict[int, int] = {}
    leaf_of: dict[int, int] = {}
    for call in sorted(calls, key=lambda call: call.index):
        for node in call.graph.nodes:
            if node.event is not None:
                in_graph.setdefault(node.event, call.index)
            elif node.is_accumulate_grad and node.tensor is not None and node.tensor.id is not None:
                leaf_of.setdefault(node.tensor.id, call.index)
    tainted: dict[int, set[int]] = {}
    for position, cut in enumerate(cuts):
        for output in cut.outputs:
            tainted.setdefault(output, set()).add(position)
    fed: dict[int, int] = {}
    for tensor_id, positions in tainted.items():
        if tensor_id in leaf_of:
            for position in positions:
                fed[position] = min(fed.get(position, leaf_of[tensor_id]), leaf_of[tensor_id])
    for event in events:
        hit: set[int] = set()
        for tensor_id in event.inputs:
            hit |= tainted.get(tensor_id, set())
        if not hit:
            continue
        call_index = in_graph.get(event.id)
        if call_index is not None:
            for position in hit:
                fed[position] = min(fed.get(position, call_index), call_index)
        elif event.grad_fn is None:
            for output in event.outputs:
                tainted.setdefault(output, set()).update(hit)
                if output in leaf_of:
                    for position in hit:
                        fed[position] = min(fed.get(position, leaf_of[output]), leaf_of[output])
    return fed


def with_overlay_severity(
    calls: Sequence[BackwardCall],
    findings: Sequence[Finding],
    events: Sequence[Event],
    cuts: CutLedger | None,
) -> tuple[BackwardCall, ...]:
    """The calls with each overlay marked "warning" where a warning finding concerns it.

    Args:
        calls: The captured calls.
        findings: The judged findings.
        events: The forward timeline (overlays point into it).
        cuts: The cut ledger, to match a no_grad op to its block.

    Returns:
        The calls, unchanged where no overlay is a warning.
    """
    warned: set[tuple[str, Location | None, str | None]] = {
        (finding.kind, finding.location, finding.label)
        for finding in findings
        if finding.severity == "warning"
    }
    if not warned:
        return tuple(calls)
    harmful_outputs: set[int] = set()
    if cuts is not None:
        for cut in cuts.cuts.values():
            if (cut.kind, cut.location, cut.label) in warned:
                harmful_outputs |= cut.outputs
    marked = []
    for call in calls:
        overlays = tuple(_marked(overlay, warned, harmful_outputs, events) for overlay in call.graph.overlays)
        if overlays != call.graph.overlays:
            call = dataclasses.replace(call, graph=dataclasses.replace(call.graph, overlays=overlays))
        marked.append(call)
    return tuple(marked)


def _marked(
    overlay: Overlay,
    warned: set[tuple[str, Location | None, str | None]],
    harmful_outputs: set[int],
    events: Sequence[Event],
) -> Overlay:
    # A finding without a label concerns every overlay of its kind on its line; with one, only that tensor's.
    keys = {(overlay.kind, overlay.location, overlay.label), (overlay.kind, overlay.location, None)}
    harmful = bool(keys & warned)
    if (
        not harmful
        and overlay.kind in CUT_KINDS
        and overlay.event is not None
        and overlay.event < len(events)
    ):
        harmful = any(output in harmful_outputs for output in events[overlay.event].outputs)
    return dataclasses.replace(overlay, severity="warning") if harmful else overlay
