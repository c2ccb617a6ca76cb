"""Which op made the storage a tensor uses: the line that made an ``nn.Parameter``'s data.

``nn.Parameter(torch.ones(3))`` wraps the storage ``torch.ones`` made in a new tensor without any call a
``TorchFunctionMode`` sees, so the parameter first shows up in the timeline as the input of a later op
(``model.to(device)``). Factory ops (no tensor inputs) are remembered by data address, so the parameter's
leaf can be given the line that made its data: inside a module's ``__init__``, or the user's
``nn.Linear(...)`` line for torch's own modules.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from gradviz.model import Graph

if TYPE_CHECKING:
    from gradviz.capture.call import CallPlan

#: Data addresses remembered; the oldest are forgotten first.
MAX_BIRTHS = 65_536


class Births:
    """Data address -> the event of the factory op that allocated it (most recent first)."""

    def __init__(self, limit: int = MAX_BIRTHS) -> None:
        self._limit = limit
        self._by_address: OrderedDict[int, int] = OrderedDict()

    def note(self, tensors: Sequence[torch.Tensor], event: int) -> None:
        """Remember the storage of tensors a factory op just made.

        Args:
            tensors: The op's outputs.
            event: Its event id.
        """
        for tensor in tensors:
            if tensor.layout != torch.strided or tensor.is_meta or tensor.numel() == 0:
                continue
            address = tensor.data_ptr()
            self._by_address[address] = event
            self._by_address.move_to_end(address)
        while len(self._by_address) > self._limit:
            self._by_address.popitem(last=False)

    def event_of(self, tensor: torch.Tensor) -> int | None:
        """The event that made this tensor's storage, when a factory op did and it was remembered."""
        if tensor.layout != torch.strided or tensor.is_meta or tensor.numel() == 0:
            return None
        return self._by_address.get(tensor.data_ptr())


def leaf_births(plan: CallPlan, graph: Graph, births: Births) -> dict[int, int]:
    """For each leaf of a captured call: gradviz tensor id -> the event that made its data, where known.

    Args:
        plan: The call's plan (holds the live leaves until the call is recorded).
        graph: The call's graph (its leaves carry tensor ids).
        births: The recorder's births.

    Returns:
        Tensor id -> event id.
    """
    found: dict[int, int] = {}
    for node_id in plan.leaf_ids:
        info = graph.nodes[node_id].tensor
        if info is None or info.id is None:
            continue
        event = births.event_of(plan.walked.fns[node_id].variable)
        if event is not None:
            found[info.id] = event
    return found
