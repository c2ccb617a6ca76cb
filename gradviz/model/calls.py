"""One backward/grad call: its steps, its error and its share of the leaf ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gradviz.model.graph import Edge, Graph, Node
from gradviz.model.values import Api, Location, Value


@dataclass(frozen=True, slots=True)
class Step:
    """One node run by the autograd engine: v in, vJ out.

    Attributes:
        node: Id of the node that ran.
        grad_outputs: The incoming gradients v, one per output of the node's forward (None where undefined).
        grad_inputs: The vector-Jacobian products vJ sent to each ``next_functions`` slot
            (None where that input needs no gradient); empty for AccumulateGrad.
        jacobians: For small nodes, the local Jacobian per ``next_functions`` slot as a matrix of
            shape (numel of output, numel of that input), so ``vJ = v @ J``. Empty when not computed.
        unedited: When a ``.data`` edit changed a saved tensor this node read: the vJ it would have sent
            to each slot with the values forward saved. Empty otherwise.
    """

    node: int
    grad_outputs: tuple[Value | None, ...]
    grad_inputs: tuple[Value | None, ...]
    jacobians: tuple[Value | None, ...] = ()
    unedited: tuple[Value | None, ...] = ()


@dataclass(frozen=True, slots=True)
class CallError:
    """Why a backward/grad call raised instead of finishing.

    Attributes:
        type: The exception's class name (``RuntimeError``).
        message: Its message, first line first.
        node: Id of the node autograd was running when it raised, when known.
    """

    type: str
    message: str
    node: int | None = None


LedgerKind = Literal["backward", "zeroed", "update"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One event in the life of a leaf's ``.grad`` and value, across every backward call.

    Backward adds into ``.grad``; ``optimizer.zero_grad()``, ``p.grad = None``, ``p.grad.zero_()`` empty
    it; ``optimizer.step()`` or ``w -= lr * w.grad`` under no_grad change the leaf itself.

    Attributes:
        kind: ``"backward"`` (a call added into ``.grad``), ``"zeroed"`` (``.grad`` emptied or zeroed)
            or ``"update"`` (the leaf's value changed in place).
        leaf: The leaf's name, where found (None for a call's loss-only entry past the capture budget).
        how: What did it, as the user wrote it: ``"optimizer.zero_grad()"``, ``"w.grad = None"``,
            ``"w.grad.zero_()"``, ``"optimizer.step()"``, ``"w -= ..."``, ``"backward"``.
        location: The user's line.
        call: For ``"backward"``, the call's index; otherwise how many calls had run before it.
        before: ``.grad`` before (``"backward"``, ``"zeroed"``) or the leaf's value before (``"update"``).
        after: The same, after.
        loss: For ``"backward"``, the value backward started from, when it is a single number.
        captured: For ``"backward"``, whether the call was captured step by step.
    """

    kind: LedgerKind
    leaf: str | None
    how: str
    location: Location | None = None
    call: int = 0
    before: Value | None = None
    after: Value | None = None
    loss: Value | None = None
    captured: bool = True


@dataclass(frozen=True, slots=True)
class BackwardCall:
    """One captured ``backward()`` / ``torch.autograd.backward`` / ``torch.autograd.grad`` call.

    Attributes:
        index: 1-based number of this call among all calls seen.
        api: ``"backward"`` (accumulates into ``.grad``) or ``"grad"`` (returns the gradients).
        location: The user's line that made the call.
        graph: The graph it ran over, with each leaf's ``.grad`` before and after.
        steps: The nodes in the order autograd ran them.
        retain_graph: Whether the graph was kept for another call.
        create_graph: Whether the backward itself was recorded (for higher-order gradients).
        inputs: For ``grad`` (or ``backward(inputs=...)``), the node ids of the requested inputs.
        results: For ``grad``, the gradients it returned, one per input.
        error: Set when the call raised (before or inside the engine): then leaves whose ``.grad``
            did not change received nothing from it.
        ledger: What happened to this graph's leaves since the previous captured call (zeroings,
            updates) and in this one (`LedgerEntry`, as in `Trace.ledger`).
        thinned: Set on a call read from a trace.json that kept it without its steps, saved tensors and
            listed values (statistics only), to stay under the file's size bound; the drawings written
            beside it were made from the whole call.
    """

    index: int
    api: Api
    location: Location | None
    graph: Graph
    steps: tuple[Step, ...] = ()
    retain_graph: bool = False
    create_graph: bool = False
    inputs: tuple[int, ...] = ()
    results: tuple[Value | None, ...] = ()
    error: CallError | None = None
    ledger: tuple[LedgerEntry, ...] = ()
    thinned: bool = False

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The graph's nodes."""
        return self.graph.nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The graph's edges."""
        return self.graph.edges
