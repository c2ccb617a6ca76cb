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

    # Two flat dicts rather than one of (number, ref) pairs: one object less per tensor for the collector.
    __slots__ = ("__weakref__", "_me", "_next", "_numbers", "_refs")

    def __init__(self) -> None:
        self._refs: dict[int, TensorRef[Any]] = {}
        self._numbers: dict[int, int] = {}
        self._next = 0
        self._me = weakref.ref(self)

    def __len__(self) -> int:
        return len(self._refs)

    def get(self, tensor: Any) -> int | None:
        """The id already given to this tensor, or None if it was never seen (or has died)."""
        key = id(tensor)
        handle = self._refs.get(key)
        if handle is not None:
            weak = handle._weak  # ``handle()``, read inline: this runs for every tensor of every op
            if (weak() if weak is not None else handle._strong) is tensor:
                return self._numbers[key]
        return None

    def assign(self, tensor: Any, hookless: bool | None = None) -> int:
        """The tensor's id, giving it the next free one the first time it is seen.

        Args:
            tensor: A live tensor (anything that supports weak references).
            hookless: Whether it is a leaf without hook dicts, when the caller knows (`TensorRef`).

        Returns:
            Its sequential id.
        """
        key = id(tensor)
        handle = self._refs.get(key)
        if handle is not None:
            weak = handle._weak  # ``handle()``, read inline: this runs for every tensor of every op
            if (weak() if weak is not None else handle._strong) is tensor:
                return self._numbers[key]
        number = self._next
        self._next = number + 1
        self._refs[key] = tensor_ref(tensor, self._me, hookless)
        self._numbers[key] = number
        return number

    def _forget(self, key: int, handle: TensorRef[Any]) -> None:
        if self._refs.get(key) is handle:
            del self._refs[key]
            del self._numbers[key]
