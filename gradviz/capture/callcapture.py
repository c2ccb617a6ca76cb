"""Capture one backward/grad call in full: plan it, attach the hooks, run the engine, finish the record.

Nothing here patches torch: the engine call comes in as a `UserCall`, so a test can hand in
``torch.autograd._engine_run_backward`` itself. The `Tracer` wraps the engine and passes each call
that is within the capture budget to `CallCapture.capture`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from gradviz.capture.backward import NodeStartCallback, StepRecorder, steps_part
from gradviz.capture.births import leaf_births
from gradviz.capture.call import CallPlan, read_engine_arguments
from gradviz.capture.dataedit import SavedTensorCheck, data_access_noted
from gradviz.capture.door import Door, UserCall
from gradviz.capture.editeffect import EditEffect, with_effects
from gradviz.capture.entry import call_error
from gradviz.capture.graph import WalkContext, collector_paused, describe, walk
from gradviz.capture.isolation import isolated
from gradviz.capture.jacobian import worth_computing
from gradviz.capture.leafgrads import leaf_grad_values
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.names import collect_names
from gradviz.capture.retain import with_freed
from gradviz.capture.timelinelinks import with_timeline
from gradviz.model import BackwardCall, Finding, Graph, Location

if TYPE_CHECKING:
    from gradviz.capture.forward import ForwardRecorder

#: Told about an exception the engine raised, with the line of the call.
ErrorNoter = Callable[[BaseException, "Location | None"], Any]


class _NamesById(Mapping[int, "str | None"]):
    """The user's names of a graph's tensors by gradviz id, gathered when first asked (only a saved
    tensor edited through ``.data`` asks)."""

    def __init__(self, graph: Graph) -> None:
        self._graph = graph
        self._names: dict[int, str | None] | None = None

    def _found(self) -> dict[int, str | None]:
        if self._names is None:
            self._names = {
                node.tensor.id: node.tensor.label
                for node in self._graph.nodes
                if node.tensor is not None and node.tensor.id is not None and node.tensor.label
            }
        return self._names

    def __getitem__(self, tensor_id: int) -> str | None:
        return self._found()[tensor_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._found())

    def __len__(self) -> int:
        return len(self._found())


class CallCapture:
    """Captures backward/grad calls one at a time, and keeps what it captured.

    Args:
        door: Where capture problems go.
        leaves: Learns each leaf's name; warns when a call accumulated into a non-zero ``.grad``.
        recorder: The forward timeline (None without one): backward events, saved-tensor fingerprints,
            overlays.
        jacobians: Whether to compute local Jacobians of small graphs.
        on_off: Called when faults switch capture off.
    """

    def __init__(
        self,
        door: Door,
        *,
        leaves: LeafLedger,
        recorder: ForwardRecorder | None,
        jacobians: bool = True,
        on_off: Callable[[], None] | None = None,
    ) -> None:
        self.backwards: list[BackwardCall] = []
        self.findings: list[Finding] = []
        # One call may be beyond capture (under vmap, say) while the next is not: a second fault stops it.
        self.part = door.part(
            "backward capture", "later calls are counted, not captured", on_off, tolerance=1
        )
        self._steps = steps_part(door)
        self._saved = door.part("saved-tensor check", "later .data edits of saved tensors are not looked for")
        self._leaves = leaves
        self._jacobians = jacobians
        self.recorder: ForwardRecorder | None = None
        #: The ledger of .grad and values over time (set by the Tracer).
        self.book: LedgerBook | None = None
        self._effects: dict[int, EditEffect] = {}
        self._saved_check: SavedTensorCheck | None = None
        self.use_timeline(recorder)

    def use_timeline(self, recorder: ForwardRecorder | None) -> None:
        """Use this forward timeline from now on (None: none, when it could not start)."""
        self.recorder = recorder
        self._saved_check = SavedTensorCheck(recorder) if recorder is not None else None

    def capture(
        self,
        index: int,
        engine: UserCall,
        location: Location | None,
        frame: FrameType | None,
        on_error: ErrorNoter,
    ) -> Any:
        """Run one engine call with hooks on every node of its graph, and keep its record.

        Args:
            index: The call's 1-based number among all backward/grad calls.
            engine: The engine call, with torch's arguments (outputs first).
            location: The user's line of the call.
            frame: The user's frame, to name tensors by their variables.
            on_error: Told about an exception the engine raised, before it propagates.

        Returns:
            What the engine returned.
        """
        with collector_paused():  # the record's many small objects would set off full collections
            return self._capture(index, engine, location, frame, on_error)

    def _capture(
        self,
        index: int,
        engine: UserCall,
        location: Location | None,
        frame: FrameType | None,
        on_error: ErrorNoter,
    ) -> Any:
        plan = None
        try:
            with isolated():
                plan = self.plan(index, engine, location, frame)
                plan.steps.attach()
        except Exception as error:
            if plan is not None:
                plan.steps.detach()
            what = f"backward call {index} could not be captured ({error}); it ran uncaptured"
            self.part.fault(error, location, what=what)
            return engine()
        try:
            with data_access_noted(self.recorder if self._saved_check is not None else None):
                result = engine()
        except BaseException as exc:
            plan.steps.failed()
            plan.steps.detach()
            self.finish(plan, None, error=exc)
            on_error(exc, plan.location)
            raise
        plan.steps.detach()
        self.finish(plan, result)
        return result

    def record_failure(
        self,
        index: int,
        call: UserCall,
        error: BaseException,
        location: Location | None,
        frame: FrameType | None,
    ) -> None:
        """Keep the record of a call that raised before the engine: its graph as it stood, no steps.

        Args:
            index: The call's 1-based number among all backward/grad calls.
            call: The call's arguments in the engine's form (see `entry.engine_style`); never made.
            error: What it raised.
            location: The user's line of the call.
            frame: The user's frame, to name tensors by their variables.
        """
        try:
            with isolated():
                plan = self.plan(index, call, location, frame)
        except Exception as fault:
            self.part.fault(fault, location, what=f"backward call {index} failed and could not be recorded")
            return
        self.finish(plan, None, error=error)

    def plan(
        self, index: int, engine: UserCall, location: Location | None, frame: FrameType | None
    ) -> CallPlan:
        """Walk the graph, name its tensors and prepare the hooks, before the engine runs."""
        t_outputs, *args = engine.args
        engine_args = read_engine_arguments(t_outputs, tuple(args), engine.kwargs)
        recorder = self.recorder
        if recorder is not None:
            recorder.add_backward_event(engine_args.api, location)
        walked = walk(t_outputs)
        names = collect_names(frame)
        leaf_ids = [node_id for node_id, fn in enumerate(walked.fns) if type(fn).__name__ == "AccumulateGrad"]
        leaves = [walked.fns[node_id].variable for node_id in leaf_ids]
        grads_before = leaf_grad_values([leaf.grad for leaf in leaves])
        context = WalkContext(
            names=names,
            leaf_grads_before=dict(zip(leaf_ids, grads_before, strict=True)),
            # As they stand now; `CallPlan.to_call` puts in the values after the call.
            leaf_grads_after=dict(zip(leaf_ids, grads_before, strict=True)),
            tensor_id=recorder.tensor_id if recorder is not None else (lambda tensor: None),
        )
        roots = engine_args.roots(walked, names)
        graph = describe(walked, context, roots)
        states = self._leaves.learn_labels(
            [walked.fns[node_id].variable for node_id in leaf_ids],
            [graph.nodes[node_id].tensor for node_id in leaf_ids],
        )
        jacobians = self._jacobians and worth_computing(len(walked.fns))
        steps = StepRecorder(
            walked.fns,
            jacobians=jacobians,
            on_node_start=self._check_saved(index, graph),
            part=self._steps,
            roots=[root.node for root in roots],
            inputs=engine_args.input_ids(walked),
        )
        return CallPlan(index, location, engine_args, walked, graph, leaf_ids, steps, states)

    def _check_saved(self, index: int, graph: Graph) -> NodeStartCallback | None:
        check, part = self._saved_check, self._saved
        if check is None or not part.is_open:
            return None

        names_by_id = _NamesById(graph)

        effects = self._effects = {}

        def on_node_start(fn: Any, node_id: int, grad_outputs: Sequence[Any]) -> None:
            if not part.is_open:
                return
            try:
                if not check.wanted(fn):
                    return
                node = graph.nodes[node_id]
                labels = {saved.name: saved.label for saved in node.saved}
                found = check.check(
                    fn,
                    node_name=node.name,
                    location=node.location,
                    call_index=index,
                    labels=labels,
                    names_by_id=names_by_id,
                    grad_outputs=grad_outputs,
                )
            except Exception as error:
                part.fault(error)
                return
            if check.last_effect is not None:
                effects[node_id] = check.last_effect
            self.findings.extend(found)

        return on_node_start

    def finish(self, plan: CallPlan, result: Any, *, error: BaseException | None = None) -> None:
        """Read the leaves' ``.grad`` after the call and keep the record (hooks already detached).

        Args:
            plan: The call's plan.
            result: What the engine returned, or None if it raised.
            error: What the call raised, if it did (recorded with the node it stopped at).
        """
        try:
            with isolated():  # reading .grad and the leaves' values is gradviz's own tensor work
                call = with_effects(plan.to_call(result), self._effects)
                self._effects = {}
                if self.recorder is not None:
                    ran = set() if plan.arguments.retain_graph else {step.node for step in call.steps}
                    self.recorder.forget_nodes(
                        [fn for node_id, fn in enumerate(plan.walked.fns) if node_id in ran]
                    )
                if error is not None:
                    call = dataclasses.replace(call, error=call_error(error, plan.steps.unfinished()))
                if self.recorder is not None:
                    born = leaf_births(plan, call.graph, self.recorder.births)
                    call = with_timeline(call, self.recorder.events, born)
                call, again = with_freed(call, self.backwards)
                if again is not None:
                    self.findings.append(again)
                self.backwards.append(call)
                self._leaves.accumulation_findings(plan, call)  # the ledger keeps its findings for the Judge
                if self.book is not None:
                    leaves = [plan.walked.fns[node_id].variable for node_id in plan.leaf_ids]
                    self.book.captured(call, leaves, plan.arguments.outputs)
        except Exception as error:
            what = f"backward call {plan.index} ran, but its record is incomplete"
            self.part.fault(error, plan.location, what=what)
