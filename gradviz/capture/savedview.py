"""Describe the saved tensors of every node of one graph, each distinct tensor summarised once.

A tensor is often saved by several nodes (a weight by its matmul and its transpose, an activation by
the next two layers), so one walk keeps a summary per live tensor object and reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradviz.capture.names import NameMap
from gradviz.capture.origin import NodeOrigin
from gradviz.capture.saved import read_names, saved_names
from gradviz.capture.summary import summarize
from gradviz.capture.unpack import has_unpack_hook
from gradviz.model import SavedTensor, Value


class SavedReader:
    """Saved tensors of the nodes of one graph, as model records; call it inside one `isolated()` block.

    Holds the tensors it read until it is dropped, so that ``id()`` keys stay valid meanwhile.
    """

    def __init__(self, names: NameMap, source: Callable[[torch.Tensor], int | None]) -> None:
        self._names = names
        self._source = source
        self._seen: dict[int, tuple[torch.Tensor, Value, int | None, str | None]] = {}

    def __call__(self, grad_fn: Any, origin: NodeOrigin | None) -> tuple[SavedTensor, ...]:
        """The node's saved tensors; empty once freed, or when reading them would run an unpack hook.

        Args:
            grad_fn: The node.
            origin: Its `origin_of`.
        """
        names = saved_names(grad_fn)
        if not names:
            return ()
        # Saved tensors made with no hooks pushed, or fingerprinted, have no unpack hook (cheap check).
        if (origin is None or not (origin.readable or origin.fingerprints)) and has_unpack_hook(grad_fn):
            return ()
        try:
            pairs = read_names(grad_fn, names)
        except RuntimeError:
            # Saved tensors are freed by the first backward without retain_graph; reading them then raises.
            return ()
        return tuple(self._describe(name, tensor) for name, tensor in pairs)

    def _describe(self, name: str, tensor: torch.Tensor) -> SavedTensor:
        entry = self._seen.get(id(tensor))
        if entry is None or entry[0] is not tensor:
            # No statistics pass: graphs can be large.
            value = summarize(tensor, stats=False)
            entry = (tensor, value, self._source(tensor), self._names.name_of(tensor))
            self._seen[id(tensor)] = entry
        return SavedTensor(name=name, value=entry[1], source=entry[2], label=entry[3])
