"""Sequential ids for tensors, held through weak references so that no tensor is kept alive.

``id()`` of a tensor is reused once the tensor dies, so gradviz hands out its own numbers (0, 1, 2, ...)
in the order tensors are first seen, and forgets a tensor as soon as Python frees it.
"""

from __future__ import annotations

import weakref
from typing import Any


class TensorIds:
    """A weak map from live tensors to gradviz's sequential tensor ids."""

    __slots__ = ("__weakref__", "_entries", "_next")

    def __init__(self) -> None:
        self._entries: dict[int, tuple[int, weakref.ref[Any]]] = {}
        self._next = 0

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
        self._entries[key] = (number, weakref.ref(tensor, self._forget_callback(key)))
        return number

    def _forget_callback(self, key: int) -> Any:
        entries_ref = weakref.ref(self)

        def forget(ref: weakref.ref[Any]) -> None:
            owner = entries_ref()
            if owner is None:
                return
            entry = owner._entries.get(key)
            if entry is not None and entry[1] is ref:
                del owner._entries[key]

        return forget


class WeakIdMap:
    """A map from live tensors (by identity, held weakly) to values; a plain dict lookup per access.

    torch's ``WeakIdKeyDictionary`` builds a weak-reference key object for every lookup; this one keys a
    dict by ``id()`` and checks the weak reference, so a dead tensor's reused id never matches.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], Any]] = {}

    def get(self, tensor: Any, default: Any = None) -> Any:
        """The value for this tensor, or `default`."""
        entry = self._entries.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        return default

    def __contains__(self, tensor: Any) -> bool:
        entry = self._entries.get(id(tensor))
        return entry is not None and entry[0]() is tensor

    def __setitem__(self, tensor: Any, value: Any) -> None:
        entry = self._entries.get(id(tensor))
        ref = entry[0] if entry is not None and entry[0]() is tensor else weakref.ref(tensor)
        self._entries[id(tensor)] = (ref, value)

    def items(self) -> list[tuple[Any, Any]]:
        """The live tensors and their values, in the order they were first set."""
        found = []
        for ref, value in self._entries.values():
            tensor = ref()
            if tensor is not None:
                found.append((tensor, value))
        return found

    def keys(self) -> list[Any]:
        """The live tensors."""
        return [tensor for tensor, _ in self.items()]
