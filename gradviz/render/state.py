"""The state of a backward call after step k: which nodes ran, what v they got, what vJ flowed.

Every renderer (DOT/SVG, HTML, text) and the TUI read the state from here, so ``--step 3`` on the
command line, the HTML slider at 3 and the TUI at step 3 all show the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gradviz.errors import GradvizError
from gradviz.model import BackwardCall, CallError, Graph, Node, Value


class StepOutOfRange(GradvizError, ValueError):
    """A step number that the backward call does not have."""


@dataclass(frozen=True, slots=True)
class StepState:
    """What has happened after `step` steps of a backward call (or the whole call when `step` is None).

    Attributes:
        step: The step shown, None for "the finished call" (or a lone graph).
        total: How many steps the call has.
        ran: Node id to its 1-based step number, for every node the call ran.
        done: Ids of the nodes that have run by this step.
        current: Id of the node that ran at this step (None for step 0, None, or a lone graph).
        v: Node id to the gradients it received (``grad_outputs``), for the nodes that have run.
        flows: ``(source, target)`` edge to the vJ sent along each of its slots, for the nodes that
            have run (None where autograd sent nothing).
        error: Why the call raised, when it did (shown at the finished call and at its last step).
        jacobians: Node id to its local Jacobian per ``next_functions`` slot, for the nodes that have
            run and had one recorded (small nodes).
    """

    step: int | None
    total: int
    ran: Mapping[int, int] = field(default_factory=dict)
    done: frozenset[int] = frozenset()
    current: int | None = None
    v: Mapping[int, tuple[Value | None, ...]] = field(default_factory=dict)
    flows: Mapping[tuple[int, int], tuple[Value | None, ...]] = field(default_factory=dict)
    error: CallError | None = None
    jacobians: Mapping[int, tuple[Value | None, ...]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether the call raised and this state is where it stopped: the finished call or its last step."""
        return self.error is not None and (self.step is None or self.step == self.total)

    @property
    def raised(self) -> int | None:
        """Id of the node autograd was running when the call raised, shown only where it stopped."""
        return self.error.node if self.failed and self.error is not None else None

    def received_nothing(self, node: Node) -> bool:
        """Whether a leaf got nothing from a call that failed before reaching its AccumulateGrad.

        With recorded steps that is "its AccumulateGrad never ran" (where that node itself raised, as a
        post-accumulate-grad hook does after accumulating: "its ``.grad`` did not change"); without any,
        "its ``.grad`` did not change".

        Args:
            node: A node of the graph.

        Returns:
            False for non-leaves, calls that finished, and states before the failure.
        """
        tensor = node.tensor
        if not self.failed or not node.is_accumulate_grad or tensor is None:
            return False
        if self.total and self.raised != node.id:
            return node.id not in self.ran
        # Raised in the leaf's own AccumulateGrad: a post-accumulate-grad hook raises after it accumulated.
        return tensor.grad_after == tensor.grad_before

    def is_unreached(self, node_id: int) -> bool:
        """Whether a failed call never ran this node (shown only where it stopped).

        Args:
            node_id: Id of a node of the graph.

        Returns:
            True for nodes with no recorded step, other than the one it raised in.
        """
        return self.failed and node_id not in self.ran and node_id != self.raised

    def is_pending(self, node_id: int) -> bool:
        """Whether a node runs in this call but has not run yet at this step.

        Args:
            node_id: Id of a node of the graph.

        Returns:
            False for a finished call (``step`` None) and for nodes the call never runs.
        """
        return self.step is not None and node_id in self.ran and node_id not in self.done

    def grad_of(self, node: Node) -> Value | None:
        """The ``.grad`` a user would see on the node's tensor at this step.

        A leaf shows ``grad_before`` until its AccumulateGrad has run, then ``grad_after``. A
        non-leaf has a ``.grad`` only with ``retain_grad()``: then it is the v its node received.

        Args:
            node: A node of the graph.

        Returns:
            The gradient summary, or None when the tensor has no ``.grad`` (yet).
        """
        tensor = node.tensor
        if tensor is None:
            return None
        if node.is_accumulate_grad:
            if self.received_nothing(node):
                return tensor.grad_before
            if self.step is None or node.id in self.done or self.raised == node.id:
                return tensor.grad_after
            return tensor.grad_before
        if tensor.retains_grad and node.id in self.done:
            grads = self.v.get(node.id, ())
            return grads[0] if grads else None
        return None


def step_state(subject: Graph | BackwardCall, step: int | None = None) -> StepState:
    """Compute the state after `step` backward steps.

    Args:
        subject: A backward call, or a lone graph (which has no steps).
        step: 0 for "before backward", k for "after the k-th node ran", None for the finished call.

    Returns:
        The state.

    Raises:
        StepOutOfRange: `step` is negative, past the last step, or given for a lone graph.
    """
    if isinstance(subject, Graph):
        if step not in (None, 0):
            raise StepOutOfRange(f"step {step} is out of range: a graph snapshot has no backward steps")
        return StepState(step=None, total=0)
    steps = subject.steps
    if step is not None and not 0 <= step <= len(steps):
        raise StepOutOfRange(
            f"step {step} is out of range: backward call {subject.index} has steps 0..{len(steps)}"
        )
    slot_target: dict[tuple[int, int], int] = {}
    for edge in subject.graph.edges:
        for slot in edge.slots:
            slot_target[(edge.source, slot)] = edge.target
    ran: dict[int, int] = {}
    for number, item in enumerate(steps, start=1):
        ran.setdefault(item.node, number)
    upto = len(steps) if step is None else step
    v: dict[int, tuple[Value | None, ...]] = {}
    jacobians: dict[int, tuple[Value | None, ...]] = {}
    sent: dict[tuple[int, int], dict[int, Value | None]] = {}
    for item in steps[:upto]:
        v[item.node] = item.grad_outputs
        if item.jacobians:
            jacobians.setdefault(item.node, item.jacobians)
        for slot, grad in enumerate(item.grad_inputs):
            target = slot_target.get((item.node, slot))
            if target is not None:
                sent.setdefault((item.node, target), {})[slot] = grad
    flows = {key: tuple(by_slot[slot] for slot in sorted(by_slot)) for key, by_slot in sent.items()}
    current = steps[upto - 1].node if step is not None and upto > 0 else None
    return StepState(
        step=step,
        total=len(steps),
        ran=ran,
        done=frozenset(v),
        current=current,
        v=v,
        flows=flows,
        error=subject.error,
        jacobians=jacobians,
    )
