"""Record backward step by step with hooks on every autograd Node: v in, vJ out, in run order.

A post-hook (``register_hook``) sees the gradients a node received (v) and the vector-Jacobian products
it sends to each ``next_functions`` slot (vJ). Hooks fire in the order the engine runs the nodes, which
is the order a learner should see. A pre-hook (``register_prehook``), which sees v before the node runs,
is added only where v may change while it runs (a custom Function's backward may write into it, a user's
post-accumulate-grad hook into a stolen ``.grad``), on the roots (a call that fails there ran no node),
and where local Jacobians are computed. A built-in node never writes into its v, and its saved tensors
are still there in its post-hook (the engine releases them after the hooks), so the saved-tensor check
runs there. Every hook is removed after the call, and every hook goes through the door
(`gradviz.capture.door`): a fault in one is noted once, step recording stops, and autograd carries
on. The gradients are summarised together when the call is over (`gradviz.capture.gradbatch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch.autograd.function import BackwardCFunction

from gradviz.capture.door import Door, Part
from gradviz.capture.gradbatch import GradBatch
from gradviz.capture.isolation import isolated, isolating
from gradviz.capture.jacobian import local_jacobians
from gradviz.capture.records import twin_of
from gradviz.capture.stopped import stopped_at
from gradviz.model import Step, Value

_StepTwin = twin_of(Step)

#: Called with (grad_fn, node id, v) before a node's saved tensors are released: just before it runs, or
#: in its post-hook when it has no pre-hook; used to check its saved tensors.
NodeStartCallback = Callable[[Any, int, Sequence[torch.Tensor | None]], None]


class StepRecorder:
    """Hooks the nodes of one graph for the duration of one backward call.

    Args:
        fns: The grad_fn objects, indexed by node id (from `graph.walk`).
        jacobians: Whether to compute local Jacobians of small nodes.
        on_node_start: Called for each node, before its saved tensors are released.
        part: The part of capture the hooks belong to (a fault switches it off); by default, one of
            a door of its own.
        roots: Ids of the nodes backward starts from.
        inputs: Ids of the nodes whose gradients were asked for (where a failed call stopped depends on
            them).
    """

    def __init__(
        self,
        fns: Sequence[Any],
        *,
        jacobians: bool = True,
        on_node_start: NodeStartCallback | None = None,
        part: Part | None = None,
        roots: Sequence[int] = (),
        inputs: Sequence[int] = (),
    ) -> None:
        self._fns = fns
        self._roots = roots
        self._inputs = inputs
        self._jacobians = jacobians
        self._on_node_start = on_node_start
        self._part = part if part is not None else steps_part(Door())
        self._handles: list[Any] = []
        self._grads = GradBatch()
        self._pending: dict[int, tuple[tuple[int, ...], tuple[Value | None, ...]]] = {}
        # Per step in run order: node id, slots of v and vJ in `_grads`, local Jacobians.
        self._runs: list[tuple[int, tuple[int, ...], tuple[int, ...], tuple[Value | None, ...]]] = []
        self._steps: list[Step] | None = None
        self._values: list[Value | None] = []  # every slot's summary, once `steps` were read

    def attach(self) -> None:
        """Register a post-hook on every node, and a pre-hook where one is needed (see the module's
        docstring); none once a fault switched steps off."""
        part = self._part
        if not part.is_open:
            return

        start, finish = self._before, self._after

        # One guard per kind of hook, not per node: these run once per node of every captured call.
        def before(node_id: int, grad_outputs: Sequence[torch.Tensor | None]) -> None:
            if part.is_open:
                try:
                    start(node_id, grad_outputs)
                except Exception as error:
                    part.fault(error)

        def after(node_id: int, grad_inputs: Sequence[Any], grad_outputs: Sequence[Any]) -> None:
            if part.is_open:
                try:
                    finish(node_id, grad_inputs, grad_outputs)
                except Exception as error:
                    part.fault(error)

        handles = self._handles
        every, roots = self._jacobians, set(self._roots)
        for node_id, fn in enumerate(self._fns):
            if every or node_id in roots or _may_change_its_v(fn):
                handles.append(fn.register_prehook(partial(before, node_id)))
            handles.append(fn.register_hook(partial(after, node_id)))

    def unfinished(self) -> int | None:
        """Where a failed call stopped: the node whose pre-hook fired but whose post-hook did not, else
        the node that was ready to run and did not finish (`gradviz.capture.stopped`)."""
        started = next(reversed(self._pending), None)
        if started is not None or not self._runs:  # no node ran: the engine failed before the roots
            return started
        return stopped_at(self._fns, {run[0] for run in self._runs}, self._inputs)

    def failed(self) -> None:
        """After the engine raised: check the saved tensors of the node it stopped at, if no pre-hook did
        (they are still there: a failed node releases nothing)."""
        node_id = None if self._pending else self.unfinished()
        if node_id is None or self._on_node_start is None or not self._part.is_open:
            return
        try:
            with isolated():
                self._on_node_start(self._fns[node_id], node_id, ())
        except Exception as error:
            self._part.fault(error)

    def detach(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def slot_of(self, tensor: torch.Tensor | None) -> int:
        """The slot of a gradient a hook took, still unchanged (see `GradBatch.slot_of`), else -1."""
        return self._grads.slot_of(tensor) if self._steps is None else -1

    def value_in(self, slot: int) -> Value | None:
        """The summary in a slot (from `slot_of`), once `steps` were read."""
        return self._values[slot] if 0 <= slot < len(self._values) else None

    @property
    def steps(self) -> list[Step]:
        """The steps recorded, in run order; the gradients are summarised (all together) when first asked."""
        if self._steps is None:
            self._steps = []
            runs = self._runs
            try:
                self._values = self._grads.resolve()
                values = [*self._values, None]  # slot -1, "no gradient", reads as None
            except Exception as error:  # the gradients themselves are unaffected
                self._part.fault(error)
            else:
                self._steps = _make_steps(runs, values)
        return self._steps

    def _before(self, node_id: int, grad_outputs: Sequence[torch.Tensor | None]) -> None:
        fn = self._fns[node_id]
        jacobians: tuple[Value | None, ...] = ()
        with isolating():  # gradviz's own tensor work: no user mode sees it
            if self._on_node_start is not None:
                self._on_node_start(fn, node_id, grad_outputs)
            if self._jacobians:
                # A node whose saved tensors were modified in place cannot be called; autograd itself
                # raises the real error when it reaches the node, so the Jacobian is simply left out.
                with contextlib.suppress(Exception):
                    jacobians = local_jacobians(fn, grad_outputs)
            self._pending[node_id] = (tuple(map(self._grads.add, grad_outputs)), jacobians)

    def _after(
        self,
        node_id: int,
        grad_inputs: Sequence[torch.Tensor | None],
        grad_outputs: Sequence[torch.Tensor | None],
    ) -> None:
        pending = self._pending.pop(node_id, None) if self._pending else None
        add = self._grads.add
        with isolating():  # checking and copying are gradviz's own tensor work
            if pending is None:
                if self._on_node_start is not None:
                    self._on_node_start(self._fns[node_id], node_id, grad_outputs)
                incoming: tuple[int, ...] = tuple(map(add, grad_outputs))
                jacobians: tuple[Value | None, ...] = ()
            else:
                incoming, jacobians = pending
            self._runs.append((node_id, incoming, tuple(map(add, grad_inputs)), jacobians))


def _make_steps(
    runs: list[tuple[int, tuple[int, ...], tuple[int, ...], tuple[Value | None, ...]]],
    values: list[Value | None],
) -> list[Step]:
    """The steps, each gradient's slot read as its summary (slot -1, the last, as None).

    Equal slot tuples give one tuple of summaries: a node's v is often the vJ the node before it sent.
    """
    value = values.__getitem__
    made: dict[tuple[int, ...], tuple[Value | None, ...]] = {(): ()}
    steps = []
    for node_id, incoming, outgoing, jacobians in runs:
        grad_outputs = made.get(incoming)
        if grad_outputs is None:
            grad_outputs = made[incoming] = tuple(map(value, incoming))
        grad_inputs = made.get(outgoing)
        if grad_inputs is None:
            grad_inputs = made[outgoing] = tuple(map(value, outgoing))
        step = _StepTwin(node_id, grad_outputs, grad_inputs, jacobians)
        step.__class__ = Step  # made as `gradviz.capture.records` makes records: one per node run
        steps.append(step)
    return steps


def _may_change_its_v(fn: Any) -> bool:
    """Whether a node's v may change while it runs: a custom Function's backward may write into it, and
    a user's post-accumulate-grad hook into the ``.grad`` AccumulateGrad stole from it."""
    if isinstance(fn, BackwardCFunction):
        return True
    if type(fn).__name__ != "AccumulateGrad":
        return False
    return getattr(fn.variable, "_post_accumulate_grad_hooks", None) is not None


def steps_part(door: Door) -> Part:
    """The part of capture that backward steps are: a fault in a Node hook switches it off."""
    return door.part("backward steps", "later steps are not recorded (the gradients are unaffected)")
