"""A map keyed by tensor identity that keeps no tensor alive, through gradviz's one `TensorRef` per tensor."""

from __future__ import annotations

from typing import Any

from gradviz.capture.tensorrefs import TensorRef, tensor_ref


class TensorMap:
    """A map keyed by object identity that keeps no key alive (what ``WeakIdKeyDictionary`` does)."""

    __slots__ = ("__weakref__", "_entries")

    def __init__(self) -> None:
        self._entries: dict[int, tuple[TensorRef[Any], Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Any) -> bool:
        entry = self._entries.get(id(key))
        return entry is not None and entry[0]() is key

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for `key`, or `default`."""
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0]() is key else default

    def __setitem__(self, key: Any, value: Any) -> None:
        handle: TensorRef[Any] = tensor_ref(key)
        handle.watch(self)
        self._entries[id(key)] = (handle, value)

    def keys(self) -> list[Any]:
        """The live keys."""
        return [key for handle, _ in self._entries.values() if (key := handle()) is not None]

    def items(self) -> list[tuple[Any, Any]]:
        """The live (key, value) pairs."""
        return [(key, value) for handle, value in self._entries.values() if (key := handle()) is not None]

    def _forget(self, key: int, handle: TensorRef[Any]) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is handle:
            del self._entries[key]
