"""What gradviz captured, as plain frozen data.

This module is the contract between capture, the renderers, the TUI and trace.json. It imports
neither torch nor textual, so a saved trace can be rendered and explored without either.

Ids are sequential integers in capture order, never ``id()`` of a torch object: ``id()`` values are
reused and differ from run to run, which makes output unstable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

SCHEMA = "gradviz.trace/1"

#: Nested lists of numbers, as ``Tensor.tolist()`` gives them (kept as tuples here: the model is frozen).
Nested: TypeAlias = float | int | bool | complex | tuple["Nested", ...]

Api = Literal["backward", "grad"]
GradMode = Literal["enabled", "no_grad", "inference_mode"]
#: "warning": probably a bug in the user's code; "note": an autograd effect that happened (an intended cut,
#: evaluation under no_grad), drawn and listed briefly but never alarming.
Severity = Literal["warning", "note"]


@dataclass(frozen=True, slots=True)
class Location:
    """A line of the user's code.

    Attributes:
        file: Path of the source file, as the frame reports it (relative to the script's folder
            when gradviz ran a script).
        line: 1-based line number.
        function: Name of the enclosing function, ``"<module>"`` at top level.
        code: The stripped source line, when it could be read.
    """

    file: str
    line: int
    function: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Value:
    """A summary of a tensor's values; full values only for small tensors.

    Attributes:
        shape: The tensor's shape.
        dtype: Short dtype name, e.g. ``"float32"``.
        values: The values as nested tuples, present when ``numel <= 100``.
        min: Smallest element (None for empty, complex or non-numeric tensors).
        max: Largest element.
        mean: Mean of the elements.
        norm: The 2-norm of the flattened tensor.
    """

    shape: tuple[int, ...]
    dtype: str
    values: Nested | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    norm: float | None = None

    @property
    def numel(self) -> int:
        """Number of elements."""
        count = 1
        for size in self.shape:
            count *= size
        return count


@dataclass(frozen=True, slots=True)
class SavedTensor:
    """A tensor that a backward node saved during forward for use in backward.

    Attributes:
        name: The name PyTorch gives it, without the ``_saved_`` prefix (``"self"``, ``"other"``,
            ``"result"``), or ``"saved_tensors[i]"`` for a custom ``autograd.Function``.
        value: Its summary at the time gradviz looked at it.
        source: Id of the node whose tensor this is (the AccumulateGrad node for a leaf, the producing
            node for an intermediate), when it could be matched.
        label: The user's name for the tensor, where found.
        forward_value: What forward saved, when a ``.data`` edit changed it before backward read it
            (`value` is then what backward used); None when unchanged or too large to keep.
    """

    name: str
    value: Value
    source: int | None = None
    label: str | None = None
    forward_value: Value | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """The tensor a node produced; for ``AccumulateGrad``, the leaf itself.

    Attributes:
        label: The user's variable name or ``model.layer.weight``-style parameter name, where found.
        shape: Shape of the tensor.
        dtype: Short dtype name.
        device: Device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        requires_grad: ``tensor.requires_grad``.
        is_leaf: ``tensor.is_leaf``.
        retains_grad: ``tensor.retains_grad`` (only ever True for non-leaves).
        grad_before: The leaf's ``.grad`` when the backward call started (leaves only).
        grad_after: The leaf's ``.grad`` when the backward call ended (leaves only).
        version: The tensor's ``_version`` counter, where known.
        id: gradviz's id for the tensor, as in `Event.inputs` / `Event.outputs`, where known.
    """

    label: str | None
    shape: tuple[int, ...]
    dtype: str
    device: str
    requires_grad: bool = True
    is_leaf: bool = False
    retains_grad: bool = False
    grad_before: Value | None = None
    grad_after: Value | None = None
    version: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """One autograd Node (``grad_fn``), reachable from the roots through ``next_functions``.

    Attributes:
        id: Sequential id within its graph.
        name: ``type(grad_fn).__name__``: ``MulBackward0``, ``AccumulateGrad``, ...
        location: The user's line that created it, where known (forward tracing was on).
        tensor: The tensor it produced (for AccumulateGrad, the leaf), where known.
        saved: The tensors it saved for backward.
        event: Id of the forward event that created it, where known.
        module: Path of the ``nn.Module`` call that produced it (``encoder.layers.3.self_attn``), where
            known.
        freed_by: When an earlier captured call already ran this node without ``retain_graph=True``,
            that call's index: autograd freed the node's saved tensors then.
        attributes: The non-tensor values it saved for backward, as ``(name, text)`` pairs without the
            ``_saved_`` prefix (Pow's ``("exponent", "2")``, Sum's ``("dim", "(0,)")``).
    """

    id: int
    name: str
    location: Location | None = None
    tensor: TensorInfo | None = None
    saved: tuple[SavedTensor, ...] = ()
    event: int | None = None
    module: str | None = None
    freed_by: int | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def is_accumulate_grad(self) -> bool:
        """Whether this node accumulates into a leaf's ``.grad``."""
        return self.name == "AccumulateGrad"


@dataclass(frozen=True, slots=True)
class Edge:
    """A ``next_functions`` link, in the backward direction: ``source`` sends its vJ to ``target``.

    Attributes:
        source: Id of the node whose ``next_functions`` holds the link ("from" in trace.json).
        target: Id of the node it points to ("to" in trace.json).
        slots: Positions in ``source.next_functions`` that point to ``target`` (one link may be
            used twice, as in ``x * x``).
    """

    source: int
    target: int
    slots: tuple[int, ...] = (0,)


@dataclass(frozen=True, slots=True)
class Root:
    """A tensor that backward started from.

    Attributes:
        node: Id of its grad_fn node (its AccumulateGrad node if it is itself a leaf).
        label: The user's name for it, where found.
        gradient: The v it was given (``gradient=`` / ``grad_outputs=``, or the implicit 1 for a scalar).
    """

    node: int
    label: str | None = None
    gradient: Value | None = None


OverlayKind = Literal["no_grad", "detach", "inplace", "data_edit", "requires_grad_off"]


@dataclass(frozen=True, slots=True)
class Overlay:
    """Something autograd did not record, drawn beside the graph.

    Attributes:
        id: Sequential id among the overlays of one graph.
        kind: What happened: a tensor made under ``no_grad``, a ``detach()``, an in-place op
            (version bump), or a ``.data`` edit.
        label: The user's name for the tensor involved, where found.
        text: One line saying what happened, for the drawing.
        location: The line where it happened.
        attached_to: Id of the graph node it hangs off (the node whose tensor it came from).
        event: Id of the forward event it comes from.
        severity: ``"warning"`` when a finding says this probably broke a gradient (a ``.data`` edit that
            backward read, a cut that left trained parameters without gradient), else ``"note"``.
    """

    id: int
    kind: OverlayKind
    label: str | None
    text: str
    location: Location | None = None
    attached_to: int | None = None
    event: int | None = None
    severity: Severity = "note"


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """An ``nn.Module`` whose forward produced nodes of a graph (see `Node.module`).

    Attributes:
        path: Its dotted path, as ``named_modules()`` of the outermost module called gives it
            (``encoder.layers.3.self_attn``); ``""`` for that outermost module itself.
        type: Its class name (``MultiheadAttention``).
        calls: How many of its forward calls produced nodes of this graph (an RNN cell called for
            999 time steps: 999).
    """

    path: str
    type: str
    calls: int = 1


@dataclass(frozen=True, slots=True)
class Graph:
    """An autograd graph: every node reachable from the roots, once, and the links among them.

    Attributes:
        nodes: The nodes, ids 0..n-1 in walk order (roots first).
        edges: The distinct ``next_functions`` links among them.
        roots: Where backward starts.
        overlays: What autograd did not record (no_grad, detach, in-place, .data), when traced.
        modules: The modules named by the nodes' `Node.module` (and their parents), when recorded.
    """

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    roots: tuple[Root, ...] = ()
    overlays: tuple[Overlay, ...] = ()
    modules: tuple[ModuleInfo, ...] = ()

    def node(self, node_id: int) -> Node:
        """The node with this id."""
        return self.nodes[node_id]

    def children(self, node_id: int) -> tuple[int, ...]:
        """Ids of the nodes this node sends gradients to (its ``next_functions``)."""
        return tuple(edge.target for edge in self.edges if edge.source == node_id)

    @property
    def leaves(self) -> tuple[Node, ...]:
        """The AccumulateGrad nodes, one per leaf tensor that receives a gradient."""
        return tuple(node for node in self.nodes if node.is_accumulate_grad)


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

    @property
    def nodes(self) -> tuple[Node, ...]:
        """The graph's nodes."""
        return self.graph.nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The graph's edges."""
        return self.graph.edges


EventKind = Literal[
    "op",
    "grad_mode",
    "detach",
    "inplace",
    "data_read",
    "data_write",
    "requires_grad",
    "retain_grad",
    "backward",
    "grad_read",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the forward timeline.

    Attributes:
        id: Sequential id in the order things happened.
        kind: What sort of event (a plain op, a grad-mode switch, a detach, an in-place op, ...).
        op: The torch function or Tensor method, e.g. ``"mul"``, ``"Tensor.mul_"``, ``"no_grad"``.
        location: The user's line.
        grad_mode: The grad mode the op ran under.
        inputs: gradviz tensor ids of the tensor arguments.
        outputs: gradviz tensor ids of the tensor results.
        grad_fn: ``type(out.grad_fn).__name__`` of the first output, None when it joined no graph.
        version_before: ``_version`` of the modified tensor before an in-place op.
        version_after: ``_version`` after it.
        enabled: For ``grad_mode`` events, whether grad is enabled after the switch.
        detail: One line of extra explanation, where useful.
    """

    id: int
    kind: EventKind
    op: str
    location: Location | None
    grad_mode: GradMode = "enabled"
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    grad_fn: str | None = None
    version_before: int | None = None
    version_after: int | None = None
    enabled: bool | None = None
    detail: str | None = None


FindingKind = Literal[
    "no_grad",
    "detach",
    "data_edit",
    "accumulation",
    "autograd_error",
    "capture_problem",
    "non_leaf_grad",
    "retain_graph",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a user should be told about: a warning, an explained error, or a capture problem.

    Attributes:
        kind: What sort of finding.
        message: One or more sentences in plain words, naming the tensor and the line.
        location: The line it is about.
        call: Index of the backward call it concerns, where it concerns one.
        label: The tensor it concerns, by the user's name.
        severity: ``"warning"`` (probably a bug: act) or ``"note"`` (autograd did this, as intended).
        count: How many times it happened (capture problems of one kind are reported once, counted).
    """

    kind: FindingKind
    message: str
    location: Location | None = None
    call: int | None = None
    label: str | None = None
    severity: Severity = "warning"
    count: int = 1


@dataclass(frozen=True, slots=True)
class LeafSummary:
    """How one leaf's ``.grad`` changed over the backward calls that were counted but not captured.

    Attributes:
        label: The leaf's name, where found.
        calls: How many uncaptured calls changed it.
        grad_after: Its ``.grad`` after the last of them.
    """

    label: str | None
    calls: int
    grad_after: Value | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """Everything one tracing session recorded.

    Attributes:
        torch_version: ``torch.__version__`` at capture time.
        script: The script that ran, when traced through the CLI.
        backward_calls: Every backward/grad call seen, captured or not.
        events: The forward timeline.
        backwards: The captured calls, in call order.
        findings: Warnings, explained errors and capture problems, in the order found.
        uncaptured: Leaf-gradient changes of the calls past ``max_backward``.
        events_dropped: Forward events not recorded because the budget was spent.
        ledger: Each leaf's ``.grad`` and value over time: backward calls, zeroings, updates, in order.
        schema: Schema version of trace.json.
    """

    torch_version: str
    script: str | None = None
    backward_calls: int = 0
    events: tuple[Event, ...] = ()
    backwards: tuple[BackwardCall, ...] = ()
    findings: tuple[Finding, ...] = ()
    uncaptured: tuple[LeafSummary, ...] = ()
    events_dropped: int = 0
    ledger: tuple[LedgerEntry, ...] = ()
    schema: str = field(default=SCHEMA)
