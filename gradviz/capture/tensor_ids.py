"""Sequential ids for tensors, held through weak references so that no tensor is kept alive.

``id()`` of a tensor is reused once the tensor dies, so gradviz hands out its own numbers (0, 1, 2, ...)
in the order tensors are first seen, and forgets a tensor as soon as Python frees it.
"""

from __future__ import annotations

import weakref
from typing import Any

from gradviz.capture.tensorrefs import TensorRef, tensor_ref


class TensorIds:
    """A weak map from live tensors to gradviz's sequential tensor ids."""

    __slots__ = ("__weakref__", "_entries", "_me", "_next")

    def __init__(self) -> None:
        self._entries: dict[int, tuple[int, TensorRef[Any]]] = {}
        self._next = 0
        self._me = weakref.ref(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, tensor: Any) -> int | None:
        """The id already given to this tensor, or None if it was never seen (or has died)."""
        entry = self._entries.get(id(tensor))
        if entry is not None and entry[1]() is tensor:
            return entry[0]
        return None

    def assign(self, tensor: Any) -> int:
        """The tensor's id, giving it the next free one the first time it is seen.

        Args:
            tensor: A live tensor (anything that supports weak references).

        Returns:
            Its sequential id.
        """
        key = id(tensor)
        entry = self._entries.get(key)
        if entry is not None and entry[1]() is tensor:
            return entry[0]
        number = self._next
        self._next = number + 1
        self._entries[key] = (number, tensor_ref(tensor, self._me))
        return number

    def _forget(self, key: int, handle: TensorRef[Any]) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] is handle:
            del self._entries[key]
