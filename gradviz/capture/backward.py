"""Record backward step by step with hooks on every autograd Node: v in, vJ out, in run order.

A pre-hook (``register_prehook``) sees the gradients a node receives (v) before it runs; a post-hook
(``register_hook``) sees the vector-Jacobian products it sends to each ``next_functions`` slot (vJ).
Hooks fire in the order the engine runs the nodes, which is the order a learner should see. Every hook
is removed after the call, and every hook goes through the door (`gradviz.capture.door`): a fault in
one is noted once, step recording stops, and autograd carries on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch

from gradviz.capture.door import Door, Part
from gradviz.capture.jacobian import local_jacobians
from gradviz.capture.summary import SummaryCache
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
        self._summary = SummaryCache()
        self._pending: dict[int, tuple[tuple[Value | None, ...], tuple[Value | None, ...]]] = {}
        self.steps: list[Step] = []

    def attach(self) -> None:
        """Register a pre-hook and a post-hook on every node (none once a fault switched steps off)."""
        if not self._part.is_open:
            return
        for node_id, fn in enumerate(self._fns):
            self._handles.append(fn.register_prehook(self._part.hook(partial(self._before, node_id))))
            self._handles.append(fn.register_hook(self._part.hook(partial(self._after, node_id))))

    def unfinished(self) -> int | None:
        """The node whose pre-hook fired but whose post-hook did not: where a failed call stopped."""
        return next(reversed(self._pending), None)

    def detach(self) -> None:
        """Remove every hook this recorder registered."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _before(self, node_id: int, grad_outputs: Sequence[torch.Tensor | None]) -> None:
        fn = self._fns[node_id]
        if self._on_node_start is not None:
            self._on_node_start(fn, node_id, grad_outputs)
        incoming = tuple(self._summary(grad) for grad in grad_outputs)
        jacobians: tuple[Value | None, ...] = ()
        if self._jacobians:
            # A node whose saved tensors were modified in place cannot be called; autograd itself
            # raises the real error when it reaches the node, so the Jacobian is simply left out.
            with contextlib.suppress(Exception):
                jacobians = local_jacobians(fn, grad_outputs)
        self._pending[node_id] = (incoming, jacobians)

    def _after(
        self,
        node_id: int,
        grad_inputs: Sequence[torch.Tensor | None],
        grad_outputs: Sequence[torch.Tensor | None],
    ) -> None:
        pending = self._pending.pop(node_id, None)
        if pending is None:
            incoming: tuple[Value | None, ...] = tuple(self._summary(grad) for grad in grad_outputs)
            jacobians: tuple[Value | None, ...] = ()
        else:
            incoming, jacobians = pending
        outgoing = tuple(self._summary(grad) for grad in grad_inputs)
        self.steps.append(
            Step(node=node_id, grad_outputs=incoming, grad_inputs=outgoing, jacobians=jacobians)
        )


def steps_part(door: Door) -> Part:
    """The part of capture that backward steps are: a fault in a Node hook switches it off."""
    return door.part("backward steps", "later steps are not recorded (the gradients are unaffected)")
