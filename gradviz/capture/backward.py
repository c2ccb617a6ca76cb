"""Record backward step by step with hooks on every autograd Node: v in, vJ out, in run order.

A pre-hook (``register_prehook``) sees the gradients a node receives (v) before it runs; a post-hook
(``register_hook``) sees the vector-Jacobian products it sends to each ``next_functions`` slot (vJ).
Hooks fire in the order the engine runs the nodes, which is the order a learner should see. Every hook
is removed after the call, and every hook goes through the door (`gradviz.capture.door`): a fault in
one is noted once, step recording stops, and autograd carries on. The gradients are summarised together
when the call is over (`gradviz.capture.gradbatch`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from gradviz.capture.door import Door, Part
from gradviz.capture.gradbatch import GradBatch
from gradviz.capture.isolation import isolated
from gradviz.capture.jacobian import local_jacobians
from gradviz.model import Step, Value

#: Called with (grad_fn, node id, v) just before a node runs; used to check its saved tensors.
NodeStartCallback = Callable[[Any, int, Sequence[torch.Tensor | None]], None]


class StepRecorder:
    """Hooks the nodes of one graph for the duration of one backward call.

    Args:
        fns: The grad_fn objects, indexed by node id (from `graph.walk`).
        jacobians: Whether to compute local Jacobians of small nodes.
        on_node_start: Called before each node runs.
        part: The part of capture the hooks belong to (a fault switches it off); by default, one of
            a door of its own.
    """

    def __init__(
        self,
        fns: Sequence[Any],
        *,
        jacobians: bool = True,
        on_node_start: NodeStartCallback | None = None,
        part: Part | None = None,
    ) -> None:
        self._fns = fns
        self._jacobians = jacobians
        self._on_node_start = on_node_start
        self._part = part if part is not None else steps_part(Door())
        self._handles: list[Any] = []
        self._grads = GradBatch()
        self._pending: dict[int, tuple[tuple[int, ...], tuple[Value | None, ...]]] = {}
        # Per step in run order: node id, slots of v and vJ in `_grads`, local Jacobians.
        self._runs: list[tuple[int, tuple[int, ...], tuple[int, ...], tuple[Value | None, ...]]] = []
        self._steps: list[Step] | None = None

    def attach(self) -> None:
        """Register a pre-hook and a post-hook on every node (none once a fault switched steps off)."""
        part = self._part
        if not part.is_open:
            return

        # One guard per kind of hook, not per node: these run once per node of every captured call.
        def before(node_id: int, grad_outputs: Sequence[torch.Tensor | None]) -> None:
            if part.is_open:
                try:
                    self._before(node_id, grad_outputs)
                except Exception as error:
                    part.fault(error)

        def after(node_id: int, grad_inputs: Sequence[Any], grad_outputs: Sequence[Any]) -> None:
            if part.is_open:
                try:
                    self._after(node_id, grad_inputs, grad_outputs)
                except Exception as error:
                    part.fault(error)

        handles = self._handles
        for node_id, fn in enumerate(self._fns):
            handles.append(fn.register_prehook(partial(before, node_id)))
            handles.append(fn.register_hook(partial(after, node_id)))

    def unfinished(self) -> int | None:
        """The node whose pre-hook fired but whose post-hook did not: where a failed call stopped."""
        return next(reversed(self._pending), None)

    def detach(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def steps(self) -> list[Step]:
        """The steps recorded, in run order; the gradients are summarised (all together) when first asked."""
        if self._steps is None:
            self._steps = []
            runs, self._runs = self._runs, []
            try:
                values = self._grads.resolve()
            except Exception as error:  # the gradients themselves are unaffected
                self._part.fault(error)
            else:
                self._steps = [
                    Step(
                        node=node_id,
                        grad_outputs=tuple(values[slot] if slot >= 0 else None for slot in incoming),
                        grad_inputs=tuple(values[slot] if slot >= 0 else None for slot in outgoing),
                        jacobians=jacobians,
                    )
                    for node_id, incoming, outgoing, jacobians in runs
                ]
        return self._steps

    def _before(self, node_id: int, grad_outputs: Sequence[torch.Tensor | None]) -> None:
        fn = self._fns[node_id]
        jacobians: tuple[Value | None, ...] = ()
        with isolated():  # gradviz's own tensor work: no user mode sees it
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
        pending = self._pending.pop(node_id, None)
        add = self._grads.add
        with isolated():  # copying the gradients is gradviz's own tensor work
            if pending is None:
                incoming: tuple[int, ...] = tuple(map(add, grad_outputs))
                jacobians: tuple[Value | None, ...] = ()
            else:
                incoming, jacobians = pending
            self._runs.append((node_id, incoming, tuple(map(add, grad_inputs)), jacobians))


def steps_part(door: Door) -> Part:
    """The part of capture that backward steps are: a fault in a Node hook switches it off."""
    return door.part("backward steps", "later steps are not recorded (the gradients are unaffected)")
