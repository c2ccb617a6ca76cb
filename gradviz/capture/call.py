"""One intercepted backward/grad call: its arguments, and the record built around it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gradviz.capture.backward import StepRecorder
from gradviz.capture.gradbatch import summarize_all
from gradviz.capture.graph import GraphWalk, root_node
from gradviz.capture.leafgrads import leaf_grad_values
from gradviz.capture.leafstate import LeafState
from gradviz.capture.names import NameMap
from gradviz.capture.records import make_node, make_tensor_info
from gradviz.capture.summary import summarize_optional
from gradviz.model import Api, BackwardCall, Graph, Location, Node, Root, Value


@dataclass(frozen=True)
class EngineArguments:
    """The arguments of ``torch.autograd._engine_run_backward``, by meaning.

    Attributes:
        outputs: The roots: tensors (or ``GradientEdge``s) backward starts from.
        grad_tensors: The v given to each root (already made explicit by torch for scalars).
        retain_graph: Whether saved tensors are kept after the call.
        create_graph: Whether backward itself is recorded, for higher-order gradients.
        inputs: The tensors whose gradients were asked for (``grad``, or ``backward(inputs=...)``).
        api: ``"grad"`` when gradients are returned rather than accumulated into ``.grad``.
    """

    outputs: Sequence[Any]
    grad_tensors: Sequence[Any]
    retain_graph: bool
    create_graph: bool
    inputs: Sequence[Any]
    api: Api

    def roots(self, walked: GraphWalk, names: NameMap) -> tuple[Root, ...]:
        """The roots as model records, with the user's names and the v each was given."""
        roots = []
        for position, output in enumerate(self.outputs):
            fn = root_node(output)
            node_id = walked.node_id(fn) if fn is not None else None
            if node_id is None:
                continue
            gradient = self.grad_tensors[position] if position < len(self.grad_tensors) else None
            label = names.name_of(output) if isinstance(output, torch.Tensor) else None
            roots.append(Root(node=node_id, label=label, gradient=summarize_optional(gradient)))
        return tuple(roots)

    def input_ids(self, walked: GraphWalk) -> tuple[int, ...]:
        """Node ids of the requested inputs that are part of the graph."""
        ids = []
        for item in self.inputs:
            node_id = (
                walked.leaf_node_id(item) if isinstance(item, torch.Tensor) else walked.node_id(item.node)
            )
            if node_id is not None:
                ids.append(node_id)
        return tuple(ids)


def with_leaf_after(node: Node, grad_after: Value | None, version: int) -> Node:
    """A leaf's node with its ``.grad`` after the call and its version.

    ``dataclasses.replace`` of the node and of its tensor, spelt out field by field: a captured call
    replaces two records per leaf.

    Args:
        node: An AccumulateGrad node whose `Node.tensor` is set.
        grad_after: The leaf's ``.grad`` after the call.
        version: The leaf's ``_version`` after the call.

    Returns:
        The new node.
    """
    info: Any = node.tensor
    tensor = make_tensor_info(
        info.label,
        info.shape,
        info.dtype,
        info.device,
        info.requires_grad,
        info.is_leaf,
        info.retains_grad,
        info.grad_before,
        grad_after,
        int(version),
        info.id,
    )
    return make_node(
        node.id,
        node.name,
        node.location,
        tensor,
        node.saved,
        node.event,
        node.module,
        node.freed_by,
        node.attributes,
    )


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str, default: Any) -> Any:
    if len(args) > position:
        return args[position]
    return kwargs.get(name, default)


def read_engine_arguments(
    t_outputs: Sequence[Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> EngineArguments:
    """Name the positional arguments torch passes to its engine (positions as in torch 2.x)."""
    grad_tensors = _argument(args, kwargs, 0, "grad_tensors", ()) or ()
    return EngineArguments(
        outputs=tuple(t_outputs),
        grad_tensors=tuple(grad_tensors),
        retain_graph=bool(_argument(args, kwargs, 1, "retain_graph", False)),
        create_graph=bool(_argument(args, kwargs, 2, "create_graph", False)),
        inputs=tuple(_argument(args, kwargs, 3, "inputs", ()) or ()),
        api="backward" if kwargs.get("accumulate_grad", True) else "grad",
    )


@dataclass
class CallPlan:
    """Everything prepared before a captured call runs; becomes a `BackwardCall` afterwards.

    Holds live grad_fns (through ``walked``) only until `to_call` has run.
    """

    index: int
    location: Location | None
    arguments: EngineArguments
    walked: GraphWalk
    graph: Graph
    leaf_ids: list[int]
    steps: StepRecorder
    #: The leaf ledger's state of each leaf, in `leaf_ids` order (`LeafLedger.learn_labels`).
    leaf_states: list[LeafState] = dataclasses.field(default_factory=list)

    def to_call(self, result: Any) -> BackwardCall:
        """The finished record, reading each leaf's ``.grad`` now that the call has run.

        Args:
            result: What the engine returned (the gradients, for ``grad``), or None if it raised.

        Returns:
            The captured call.
        """
        nodes = list(self.graph.nodes)
        fns = self.walked.fns
        leaves = [fns[node_id].variable for node_id in self.leaf_ids]
        recorder = self.steps
        grads = [leaf.grad for leaf in leaves]
        slot_of = recorder.slot_of
        slots = [slot_of(grad) for grad in grads]  # .grad that is the v AccumulateGrad stole
        unread = [grad if slot < 0 else None for grad, slot in zip(grads, slots, strict=True)]
        fresh = leaf_grad_values(unread)
        steps = tuple(recorder.steps)
        value_in = recorder.value_in
        for node_id, leaf, slot, grad in zip(self.leaf_ids, leaves, slots, fresh, strict=True):
            node = nodes[node_id]
            if node.tensor is not None:
                nodes[node_id] = with_leaf_after(node, grad if slot < 0 else value_in(slot), leaf._version)
        results: tuple[Value | None, ...] = ()
        if self.arguments.api == "grad" and result is not None:
            results = tuple(summarize_all(list(result)))
        return BackwardCall(
            index=self.index,
            api=self.arguments.api,
            location=self.location,
            graph=dataclasses.replace(self.graph, nodes=tuple(nodes)),
            steps=steps,
            retain_graph=self.arguments.retain_graph,
            create_graph=self.arguments.create_graph,
            inputs=self.arguments.input_ids(self.walked),
            results=results,
        )
