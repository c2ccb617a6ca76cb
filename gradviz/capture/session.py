"""The Tracer: intercepts every backward/grad call and ties graph, steps and timeline together."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import torch
import torch.autograd

from gradviz.capture.backward import NodeStartCallback, StepRecorder
from gradviz.capture.births import leaf_births
from gradviz.capture.call import CallPlan, read_engine_arguments
from gradviz.capture.dataedit import SavedTensorCheck
from gradviz.capture.diagnose import explain_autograd_error
from gradviz.capture.forward import ForwardRecorder
from gradviz.capture.graph import WalkContext, describe, walk
from gradviz.capture.leaves import LeafLedger
from gradviz.capture.location import frame_location, is_internal, user_frame
from gradviz.capture.names import collect_names
from gradviz.capture.overlay import overlays_for
from gradviz.capture.severity import Judge, with_overlay_severity
from gradviz.capture.summary import summarize_optional
from gradviz.model import BackwardCall, Event, Finding, Graph, Location, Trace

#: The one function every backward and grad call goes through (looked up as a module global at call time).
_ENGINE = "_engine_run_backward"

#: Local Jacobians are written out for graphs up to this size: they teach on small graphs, and on big
#: ones they would cost a call per output element of every node.
MAX_JACOBIAN_NODES = 500

_active: list[Tracer] = []
_TracerT = TypeVar("_TracerT", bound="Tracer")
_finished: list[Tracer] = []


def active_tracer() -> Tracer | None:
    """The innermost Tracer currently recording, if any."""
    return _active[-1] if _active else None


def last_tracer() -> Tracer | None:
    """The Tracer that finished most recently, if any (it holds model data only, no tensors)."""
    return _finished[-1] if _finished else None


class Tracer:
    """Records what autograd does while active: a context manager.

    Every ``Tensor.backward()``, ``torch.autograd.backward`` and ``torch.autograd.grad`` call is seen,
    however the user imported it, because all three go through ``torch.autograd._engine_run_backward``,
    which the Tracer wraps while it is active. The first ``max_backward`` calls are captured in full;
    later ones are counted and their effect on each leaf's ``.grad`` summarised.

    Args:
        max_backward: How many calls to capture step by step (None: all of them).
        record_forward: Whether to record the forward timeline (ops, grad mode, detach, .data).
        jacobians: Whether to compute local Jacobians of small nodes.
        script: The script being traced, for the trace's header.
        source_root: Files under this folder are shown relative to it.
    """

    def __init__(
        self,
        *,
        max_backward: int | None = 3,
        record_forward: bool = True,
        jacobians: bool = True,
        script: str | None = None,
        source_root: str | None = None,
    ) -> None:
        self.max_backward = max_backward
        self.script = script
        self.source_root = source_root
        self.backward_calls = 0
        self._jacobians = jacobians
        self._backwards: list[BackwardCall] = []
        self._findings: list[Finding] = []
        self._explained: list[BaseException] = []
        self._leaves = LeafLedger(source_root)
        self._recorder = ForwardRecorder(root=source_root) if record_forward else None
        self._judge = Judge(
            self._leaves, self._recorder.cuts if self._recorder is not None else None, source_root
        )
        self._saved_check = SavedTensorCheck(self._recorder) if self._recorder is not None else None
        self._original: Any = None
        self._in_backward = False

    # ----- context manager -------------------------------------------------------------------------

    def __enter__(self: _TracerT) -> _TracerT:
        self._original = getattr(torch.autograd, _ENGINE)
        setattr(torch.autograd, _ENGINE, self._intercept)
        _active.append(self)
        self._judge.start()
        if self._recorder is not None:
            try:
                self._recorder.start()
            except Exception as error:  # backward is still captured without the timeline
                self._problem(f"the forward timeline could not be recorded ({error})")
                self._recorder = self._saved_check = None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._recorder is not None:
            self._recorder.stop()
        self._leaves.unfollow()
        self._judge.stop()
        for problem in dict.fromkeys([*self._leaves.problems, *self._judge.problems]):
            self._problem(problem)
        setattr(torch.autograd, _ENGINE, self._original)
        if self in _active:
            _active.remove(self)
        _finished[:] = [self]
        if exc is not None:
            self.note_exception(exc)
        # Explained exceptions were kept only to explain each once; their tracebacks hold the user's
        # frames (and tensors), and a finished tracer stays reachable through last_tracer().
        self._explained.clear()

    # ----- what was recorded -----------------------------------------------------------------------

    @property
    def backwards(self) -> tuple[BackwardCall, ...]:
        """The captured calls so far."""
        return tuple(self._backwards)

    @property
    def events(self) -> tuple[Event, ...]:
        """The forward timeline so far."""
        return self._recorder.events if self._recorder is not None else ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Warnings, explained errors and capture problems so far, in the order of the lines they concern."""
        found = [*self._findings, *(self._recorder.findings if self._recorder is not None else ())]
        judged = self._judge.findings(found, self._backwards, self.events, self.tensor_id)
        return tuple(sorted(judged, key=_reading_order))

    def tensor_id(self, tensor: torch.Tensor) -> int | None:
        """gradviz's id for a tensor the forward timeline has seen, as in `Event.inputs`."""
        return self._recorder.tensor_id(tensor) if self._recorder is not None else None

    def result(self) -> Trace:
        """Everything recorded so far, as a frozen `Trace`."""
        findings, events = self.findings, self.events
        cuts = self._recorder.cuts if self._recorder is not None else None
        return Trace(
            torch_version=torch.__version__,
            script=self.script,
            backward_calls=self.backward_calls,
            events=events,
            backwards=with_overlay_severity(self._backwards, findings, events, cuts),
            findings=findings,
            uncaptured=self._leaves.summaries(),
            events_dropped=self._recorder.events_dropped if self._recorder is not None else 0,
        )

    def note_exception(self, exc: BaseException, *, location: Location | None = None) -> Finding | None:
        """Explain an exception in terms of the trace, when it is an autograd error.

        Args:
            exc: An exception the user's code raised.
            location: Where it was raised, when its traceback does not reach the user's frames yet.

        Returns:
            The explanation, also kept in `findings`; None when there is nothing to explain (or it was
            explained already).
        """
        if any(seen is exc for seen in self._explained):
            return None
        self._explained.append(exc)
        try:
            finding = explain_autograd_error(
                exc,
                events=self.events,
                calls=self.backwards,
                location=_raise_location(exc, self.source_root) or location,
            )
        except Exception as error:  # explaining must never replace the user's own error
            self._problem(f"could not explain {type(exc).__name__}: {error}")
            return None
        if finding is not None:
            self._findings.append(finding)
        return finding

    # ----- interception ----------------------------------------------------------------------------

    def _intercept(self, t_outputs: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        self.backward_calls += 1
        if self._in_backward:
            # A backward inside a backward (a hook or checkpoint calling it): counted, not captured.
            return self._original(t_outputs, *args, **kwargs)
        self._in_backward = True
        try:
            with self.paused():
                if self.max_backward is None or len(self._backwards) < self.max_backward:
                    return self._capture(self.backward_calls, t_outputs, args, kwargs)
                return self._count(t_outputs, args, kwargs)
        finally:
            self._in_backward = False

    def paused(self) -> contextlib.AbstractContextManager[Any]:
        """A block in which torch calls are not recorded in the forward timeline."""
        if self._recorder is None:
            return contextlib.nullcontext()
        return self._recorder.paused()

    def _capture(
        self, index: int, t_outputs: Sequence[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        frame = user_frame(sys._getframe(1))
        location = frame_location(frame, self.source_root) if frame is not None else None
        plan = None
        try:
            plan = self._plan(index, t_outputs, args, kwargs, location, frame)
            plan.steps.attach()
        except Exception as error:
            if plan is not None:
                plan.steps.detach()
            self._problem(
                f"backward call {index} could not be captured ({error}); it ran uncaptured", location
            )
            return self._original(t_outputs, *args, **kwargs)
        try:
            result = self._original(t_outputs, *args, **kwargs)
        except BaseException as exc:
            plan.steps.detach()
            self._finish(plan, None)
            self.note_exception(exc, location=plan.location)
            raise
        plan.steps.detach()
        self._finish(plan, result)
        return result

    def _plan(
        self,
        index: int,
        t_outputs: Sequence[Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        location: Location | None,
        frame: Any,
    ) -> CallPlan:
        engine_args = read_engine_arguments(t_outputs, args, kwargs)
        if self._recorder is not None:
            self._recorder.add_backward_event(engine_args.api, location)
        walked = walk(t_outputs)
        names = collect_names(frame)
        leaf_ids = [node_id for node_id, fn in enumerate(walked.fns) if type(fn).__name__ == "AccumulateGrad"]
        context = WalkContext(
            names=names,
            leaf_grads_before={
                node_id: summarize_optional(walked.fns[node_id].variable.grad) for node_id in leaf_ids
            },
            tensor_id=self._recorder.tensor_id if self._recorder is not None else (lambda tensor: None),
        )
        graph = describe(walked, context, engine_args.roots(walked, names))
        for node_id in leaf_ids:
            self._leaves.learn_label(walked.fns[node_id].variable, graph.nodes[node_id].tensor)
        on_node_start = None
        if self._saved_check is not None:
            on_node_start = self._check_saved(index, graph)
        jacobians = self._jacobians and len(walked.fns) <= MAX_JACOBIAN_NODES
        steps = StepRecorder(walked.fns, jacobians=jacobians, on_node_start=on_node_start)
        return CallPlan(index, location, engine_args, walked, graph, leaf_ids, steps)

    def _check_saved(self, index: int, graph: Graph) -> NodeStartCallback:
        check = self._saved_check
        assert check is not None

        def on_node_start(fn: Any, node_id: int) -> None:
            node = graph.nodes[node_id]
            labels = {saved.name: saved.label for saved in node.saved}
            self._findings.extend(
                check.check(fn, node_name=node.name, location=node.location, call_index=index, labels=labels)
            )

        return on_node_start

    def _finish(self, plan: CallPlan, result: Any) -> None:
        try:
            call = plan.to_call(result)
            if self._recorder is not None:
                events = self.events
                graph = _with_leaf_lines(
                    call.graph, events, leaf_births(plan, call.graph, self._recorder.births)
                )
                call = dataclasses.replace(
                    call, graph=dataclasses.replace(graph, overlays=overlays_for(graph, events))
                )
            self._backwards.append(call)
            self._leaves.accumulation_findings(plan, call)  # the ledger keeps what it finds, for the Judge
            for problem in plan.steps.problems:
                self._problem(f"backward call {plan.index}, {problem}", plan.location)
        except Exception as error:
            self._problem(
                f"backward call {plan.index} ran, but its record is incomplete ({error})", plan.location
            )
        if self.max_backward is not None and len(self._backwards) >= self.max_backward:
            self._leaves.follow()
            if self._recorder is not None:
                self._recorder.recording = False

    def _count(self, t_outputs: Sequence[Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # The leaves' own hooks (LeafLedger.follow) record what this call does to their .grad.
        result = self._original(t_outputs, *args, **kwargs)
        self._leaves.settle(self.backward_calls)
        return result

    def _problem(self, message: str, location: Location | None = None) -> None:
        self._findings.append(Finding(kind="capture_problem", message=message, location=location))


def _with_leaf_lines(graph: Graph, events: Sequence[Event], born: Mapping[int, int]) -> Graph:
    """Give each leaf the line that created it, from the timeline.

    The creator is the first op whose outputs hold the leaf but whose inputs do not (``.to()`` or
    ``requires_grad_()`` return their input); for an ``nn.Parameter``, which no op outputs, the factory op
    that made its data (``born``). Leaves have no grad_fn to carry their origin, so the timeline is the only
    place to find it.
    """
    wanted = {
        node.tensor.id: node.id
        for node in graph.leaves
        if node.tensor is not None and node.tensor.id is not None and node.location is None
    }
    found: dict[int, Event] = {}
    for event in events:
        if len(found) == len(wanted):
            break
        if event.kind != "op":
            continue
        for output in event.outputs:
            if output in wanted and output not in found and output not in event.inputs:
                found[output] = event
    for tensor_id, event_id in born.items():
        if tensor_id in wanted and tensor_id not in found and 0 <= event_id < len(events):
            found[tensor_id] = events[event_id]
    if not found:
        return graph
    nodes = list(graph.nodes)
    for tensor_id, event in found.items():
        node_id = wanted[tensor_id]
        # Only the line: Node.event marks ops of this graph, and a leaf may be made long before them.
        nodes[node_id] = dataclasses.replace(nodes[node_id], location=event.location)
    return dataclasses.replace(graph, nodes=tuple(nodes))


def _reading_order(finding: Finding) -> tuple[bool, str, int]:
    """Findings by file and line, those without a line last (the sort is stable)."""
    location = finding.location
    if location is None:
        return (True, "", 0)
    return (False, location.file, location.line)


def _raise_location(exc: BaseException, root: str | None) -> Location | None:
    """The innermost user line in an exception's traceback: where the user's code raised it."""
    traceback = exc.__traceback__
    found = None
    while traceback is not None:
        if not is_internal(traceback.tb_frame.f_code.co_filename):
            found = traceback
        traceback = traceback.tb_next
    if found is None:
        return None
    return frame_location(found.tb_frame, root, line=found.tb_lineno)
