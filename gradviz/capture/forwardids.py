"""The timeline's tensors and nodes: gradviz's id for each tensor an op touches, and where each new
``grad_fn`` came from (its `NodeOrigin`, with its saved tensors' fingerprints now or at the next mark)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gradviz.capture.lazyprints import LazyPrints, Nearby
from gradviz.capture.origin import NodeOrigin, grad_fn_of, origin_of, set_origin
from gradviz.capture.quirks import tensors_in as _tensors
from gradviz.capture.saved import saved_names
from gradviz.capture.tensor_ids import TensorIds
from gradviz.capture.timeline import TimelineMixin
from gradviz.model import Location

_PLAIN = (torch.Tensor, torch.nn.Parameter)


class TensorTagging(TimelineMixin):
    """Tensor ids and node origins on the timeline (mixed into `ForwardRecorder`)."""

    _ids: TensorIds
    _lazy: LazyPrints
    #: ids of tensors made inside a custom Function's forward: apply() may give them a grad_fn later
    _unowned: dict[int, Location | None]

    def _ids_of(self, values: Sequence[Any]) -> tuple[int, ...]:
        found: list[int] = []
        ids, unowned = self._ids, self._unowned
        get, refs, numbers = ids.get, ids._refs, ids._numbers
        for value in values:
            if type(value) in _PLAIN:  # the usual argument: no subclass, no list of tensors
                # `TensorIds.get`, read inline: for every tensor argument of every op
                handle = refs.get(id(value))
                known = None
                if handle is not None:
                    weak = handle._weak
                    if (weak() if weak is not None else handle._strong) is value:
                        known = numbers[id(value)]
                found.append(self._adopt(value) if known is None or (unowned and known in unowned) else known)
                continue
            for tensor in _tensors(value):
                known = get(tensor)
                if known is None or known in unowned:
                    known = self._adopt(tensor)
                found.append(known)
        return tuple(found)

    def _adopt(self, tensor: torch.Tensor) -> int:
        tensor_id = self._ids.assign(tensor)
        where = self._unowned.pop(tensor_id, None)
        grad_fn = grad_fn_of(tensor)
        if grad_fn is not None and origin_of(grad_fn) is None:
            # Made where the mode could not see it: a custom autograd.Function, or before tracing.
            op = type(grad_fn).__name__.removesuffix("Backward") + ".apply"
            event = self._append(("op", op, where, "enabled", (), (tensor_id,), type(grad_fn).__name__,
                                  None, None, None, "made outside the timeline"))  # fmt: skip
            self._lazy.note(grad_fn, event, where, tensor_id, _nearby([tensor], (tensor_id,)), made_now=False)
        return tensor_id

    def _tag(
        self,
        grad_fn: Any,
        event: int,
        location: Location | None,
        outputs: list[torch.Tensor],
        ids: tuple[int, ...],
    ) -> None:
        """Give an op's new node its origin (and its saved tensors' fingerprints, now or at the next mark)."""
        made = ids[0] if ids else None
        if not saved_names(grad_fn):  # saves no tensor (AddBackward0, TBackward0): nothing to fingerprint
            if origin_of(grad_fn) is None:
                set_origin(grad_fn, NodeOrigin(event, location, made))
            return
        self._lazy.note(grad_fn, event, location, made, _nearby(outputs, ids))

    def forget_nodes(self, fns: Sequence[Any]) -> None:
        """After a backward call: the nodes it ran without retain_graph (their saved tensors are freed)."""
        self._lazy.forget(fns)


def _nearby(tensors: Sequence[torch.Tensor], ids: Sequence[int | None]) -> tuple[Nearby, ...]:
    """Address, shape and id of an op's outputs: a saved output is unpacked as a new tensor object, so it is
    named by matching these (a saved input is the input itself, named by its id while it lives)."""
    try:
        if len(tensors) == 1:  # the usual op: one output, its id just given
            return ((tensors[0].data_ptr(), tensors[0].shape, ids[0]),) if ids[0] is not None else ()
        return tuple(
            (tensor.data_ptr(), tensor.shape, tensor_id)
            for tensor, tensor_id in zip(tensors, ids, strict=True)
            if tensor_id is not None
        )
    except RuntimeError:  # a tensor without data to point at (sparse): left unnamed
        return ()
