"""Each autograd quirk the forward timeline records, as one small function.

The forward recorder turns every torch call into a `Draft` (the event being built), then hands it to
the quirk for its kind of call: an in-place op bumps the version counter, a write through ``.data``
does not, a view of a ``.data`` alias is an alias too, ``detach`` and ``no_grad`` cut the graph, and so
on. Each quirk reads the draft and adjusts it; ``BY_CODE`` says which quirk handles which
`opkind` code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from gradviz.capture import opkind
from gradviz.capture.devices import module_conversion, module_conversion_detail
from gradviz.capture.isolation import isolated
from gradviz.capture.locator import apply_location
from gradviz.capture.origin import grad_fn_of
from gradviz.capture.tensorrefs import TensorRef, tensor_ref
from gradviz.capture.timeline import RawEvent
from gradviz.capture.versions import version_of
from gradviz.capture.wording import TORCH_NO_GRAD
from gradviz.model import EventKind, GradMode, Location

if TYPE_CHECKING:
    from gradviz.capture.forward import ForwardRecorder

WRITE_THROUGH_DATA = "in-place edit through .data: autograd's version counter did not see it"
DATA_ASSIGNED = "x.data = ... swapped the values: autograd records nothing"


@dataclass(slots=True)
class Draft:
    """The event being built for one torch call (fields as in `Event`, plus what the quirks need).

    Attributes:
        code: What the call is (an `opkind` code).
        name: The op's name on the timeline.
        args: The call's positional arguments.
        location: The user's line.
        grad_mode: The grad mode the op ran in.
        detail: A word on the event for people (and `TORCH_NO_GRAD` inside a custom Function's forward).
        inputs: gradviz ids of the tensors passed in.
        outputs: The tensors the event produced (or modified).
        output_ids: Their gradviz ids.
        grad_fn: The grad_fn of the first output, where it has one.
        modified: The tensor an in-place op (or ``out=``) wrote to.
        version: Its ``_version`` before the op.
        kind: The event's kind.
        after: The ``_version`` after the op.
        enabled: For grad-mode and requires_grad events: switched on or off.
    """

    code: int
    name: str
    args: Sequence[Any]
    location: Location | None
    grad_mode: GradMode
    detail: str | None
    inputs: tuple[int, ...]
    outputs: list[torch.Tensor]
    output_ids: tuple[int, ...]
    grad_fn: Any
    modified: Any = None
    version: int | None = None
    kind: EventKind = "op"
    after: int | None = None
    enabled: bool | None = None

    def raw(self) -> RawEvent:
        """The event as the timeline stores it."""
        grad_fn = type(self.grad_fn).__name__ if self.grad_fn is not None else None
        return (self.kind, self.name, self.location, self.grad_mode, self.inputs, self.output_ids, grad_fn,
                self.version, self.after, self.enabled, self.detail)  # fmt: skip


def tensors_in(value: Any) -> list[torch.Tensor]:
    """The tensors in an op's result or argument: itself, or those in a tuple or list."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [item for item in value if isinstance(item, torch.Tensor)]
    return []


def draft_of(
    recorder: ForwardRecorder,
    code: int,
    name: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    result: Any,
    modified: Any = None,
    version: int | None = None,
) -> Draft | None:
    """The event for a torch call that has just run, before any quirk adjusts it.

    Args:
        recorder: The recorder: it gives tensors their ids and finds the user's line.
        code: What the call is (an `opkind` code).
        name: The op's name on the timeline.
        args: Its positional arguments.
        kwargs: Its keyword arguments.
        result: What it returned.
        modified: The tensor an in-place op wrote to.
        version: That tensor's ``_version`` before the op.

    Returns:
        The draft; None for an op that produced no tensor (nothing to show).
    """
    outputs = tensors_in(result)
    if not outputs and code == opkind.OP:
        return None
    location = recorder._location()
    grad_mode, detail = recorder._grad_mode()
    inputs = (
        recorder._ids_of(args) + recorder._ids_of(list(kwargs.values())) if kwargs else recorder._ids_of(args)
    )
    assign = recorder._ids.assign
    ids = (assign(outputs[0]),) if len(outputs) == 1 else tuple([assign(tensor) for tensor in outputs])
    grad_fn = grad_fn_of(outputs[0]) if outputs else None
    # Positional: this runs for every recorded op, and keywords cost twice as much here.
    return Draft(
        code, name, args, location, grad_mode, detail, inputs, outputs, ids, grad_fn, modified, version
    )


#: A quirk: adjusts the draft; False means the call is not an event of its own.
Quirk = Callable[["ForwardRecorder", Draft], bool]


def cut_by_grad_mode(recorder: ForwardRecorder, draft: Draft) -> None:
    """An op under no_grad/inference_mode on tensors that require grad: autograd records nothing.

    Inside a custom ``autograd.Function``'s forward, torch itself runs without grad: those outputs are
    only kept aside, since ``apply`` gives them their grad_fn afterwards.
    """
    if draft.detail is TORCH_NO_GRAD:
        where = apply_location(recorder._location)
        recorder._unowned.update(dict.fromkeys(draft.output_ids, where))
    elif (
        draft.code == opkind.OP
        and draft.grad_mode != "enabled"
        and any(isinstance(arg, torch.Tensor) and arg.requires_grad for arg in draft.args)
    ):
        sources = tensors_in(list(draft.args))
        recorder._note_cut("no_grad", draft.grad_mode, draft.location, sources, draft.output_ids)


def inplace(recorder: ForwardRecorder, draft: Draft) -> bool:
    """An in-place op: the modified tensor is the output, and its version counter goes up by one."""
    modified = draft.modified
    if not isinstance(modified, torch.Tensor):
        return True
    draft.after = version_of(modified)
    modified_id = recorder._ids.assign(modified)
    draft.kind, draft.output_ids, draft.grad_fn = "inplace", (modified_id,), grad_fn_of(modified)
    draft.outputs = [modified]
    alias = recorder._alias_of.get(modified_id)
    if alias is not None:
        write_through_data(draft, alias)
    return True


def write_through_data(draft: Draft, alias: tuple[int, TensorRef[torch.Tensor]]) -> None:
    """An in-place op on a ``.data`` alias: the tensor behind it changed, and its version did not."""
    # The alias has its own version counter: the tensor it came from keeps its version.
    draft.kind, draft.output_ids = "data_write", (alias[0],)
    base = alias[1]()
    draft.version = draft.after = base._version if base is not None else None
    draft.detail = WRITE_THROUGH_DATA


def view_of_data_alias(recorder: ForwardRecorder, draft: Draft) -> bool:
    """A view of a ``.data`` alias (``w.data[0]``) is an alias of the same tensor: a write to it counts."""
    if not (draft.args and recorder._alias_of and draft.grad_fn is None and draft.inputs):
        return True
    alias = recorder._alias_of.get(draft.inputs[0])
    if alias is not None and draft.outputs[0]._is_view():
        for output_id in draft.output_ids:
            recorder._alias_of[output_id] = alias
    return True


def detach(recorder: ForwardRecorder, draft: Draft) -> bool:
    """``detach()`` / ``detach_()``: the result shares the data but is cut from the graph."""
    draft.kind = "detach"
    source = draft.args[0] if draft.args and isinstance(draft.args[0], torch.Tensor) else None
    if source is not None and (source.requires_grad or draft.code == opkind.DETACH_INPLACE):
        recorder._note_cut("detach", draft.grad_mode, draft.location, [source], draft.output_ids)
    return True


def data_read(recorder: ForwardRecorder, draft: Draft) -> bool:
    """``x.data``: an alias of x that autograd does not track; remember whose it is."""
    draft.kind = "data_read"
    for output_id in draft.output_ids:
        recorder._alias_of[output_id] = (draft.inputs[0], tensor_ref(draft.args[0]))
    return True


def data_assign(recorder: ForwardRecorder, draft: Draft) -> bool:
    """``x.data = y``: the values are swapped under autograd, which records nothing."""
    inputs = draft.inputs
    if len(inputs) > 1 and recorder.data_base(inputs[1]) == inputs[0]:
        return False  # the tail of `x.data *= k`: already recorded as the in-place edit
    conversion = module_conversion(sys._getframe(1))
    if conversion is not None:  # model.to(device): the parameter stays the user's leaf, not a .data edit
        draft.name, draft.output_ids, draft.detail = conversion, (), module_conversion_detail(conversion)
        return True
    draft.kind, draft.output_ids, draft.inputs = "data_write", inputs[:1], inputs[1:]
    draft.version = draft.after = draft.args[0]._version
    draft.detail = DATA_ASSIGNED
    return True


def swapped_by_conversion(recorder: ForwardRecorder, param: torch.Tensor) -> None:
    """``Module.to()`` on torch's swap path: the timeline says what it says for ``param.data = ...``."""
    conversion = module_conversion(sys._getframe(1))
    if conversion is None or not recorder._on or len(recorder._raw) >= recorder._max_events:
        return
    detail = module_conversion_detail(conversion, "torch.utils.swap_tensors")
    with isolated():
        inputs = recorder._ids_of((param,))
        mode = recorder._grad_mode()[0]
    recorder._append(
        ("op", conversion, recorder._location(), mode, inputs, (), None, None, None, None, detail)
    )


def requires_grad(recorder: ForwardRecorder, draft: Draft) -> bool:
    """``requires_grad_()`` or ``x.requires_grad = ...``: whether autograd tracks ops on x from now on."""
    draft.kind, draft.enabled = "requires_grad", bool(draft.args[0].requires_grad)
    return True


def retain_grad(recorder: ForwardRecorder, draft: Draft) -> bool:
    """``retain_grad()``: a non-leaf will keep its ``.grad`` after backward."""
    draft.kind = "retain_grad"
    return True


#: The quirk for each kind of call (a plain op needs one only to follow views of ``.data`` aliases).
BY_CODE: dict[int, Quirk] = {
    opkind.OP: view_of_data_alias,
    opkind.INPLACE: inplace,
    opkind.DETACH: detach,
    opkind.DETACH_INPLACE: detach,
    opkind.DATA_GET: data_read,
    opkind.DATA_SET: data_assign,
    opkind.REQUIRES_GRAD: requires_grad,
    opkind.REQUIRES_GRAD_SET: requires_grad,
    opkind.RETAIN_GRAD: retain_grad,
}
