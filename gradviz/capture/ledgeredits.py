"""The ledger's side of the forward timeline: ``.grad`` reads and assignments, and in-place ops.

The forward recorder tells the book about each ``.grad`` read (so a later in-place op on that tensor is
known to zero a ``.grad``), each ``.grad`` assignment, and each in-place op on a leaf it knows (an update).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradviz.capture.ledgerwords import ZEROING, update_how, zero_grad_how, zero_grad_owner, zeroing_how
from gradviz.capture.summary import Snapshot, snapshot, summarize
from gradviz.capture.tensormap import TensorMap
from gradviz.capture.tensorrefs import TensorRef, tensor_ref
from gradviz.model import LedgerKind, Location, Value

#: Leaves with at most this many elements get update entries with their values.
SMALL = 8


class ForwardEdits:
    """What the forward recorder tells the ledger (mixed into `LedgerBook`, which keeps the entries)."""

    _label_of: Callable[[torch.Tensor], str | None]
    _where: Callable[..., Location | None]
    _grads: dict[int, TensorRef[torch.Tensor]]  # data_ptr of a .grad read -> its leaf
    _leaves: TensorMap
    _by_ptr: dict[int, TensorRef[torch.Tensor]]
    in_step: bool

    def _add(
        self,
        kind: LedgerKind,
        leaf: torch.Tensor | None,
        how: str,
        where: Location | None,
        before: Value | Snapshot | None,
        after: Value | Snapshot | None,
        loss: Value | Snapshot | None = None,
        captured: bool = True,
    ) -> None:
        raise NotImplementedError

    def _remember(self, leaf: torch.Tensor, value: Snapshot) -> None:
        """Keep `value` as the small leaf's values last seen."""
        raise NotImplementedError

    def grad_read(self, leaf: torch.Tensor, grad: Any) -> None:
        """``leaf.grad`` was read: an in-place op on it (or on its ``.data``) may zero it."""
        address = _address(grad) if isinstance(grad, torch.Tensor) else None
        if address is not None and leaf.is_leaf:
            if len(self._grads) > 4096:
                self._grads.clear()
            self._grads[address] = tensor_ref(leaf)

    def grad_set(self, leaf: torch.Tensor, value: Any, frame: Any) -> None:
        """Before ``leaf.grad = value``: a zeroing when value is None (or zeros) and ``.grad`` held one."""
        old = leaf.grad
        if old is None or not leaf.is_leaf:
            return
        if value is not None and not (isinstance(value, torch.Tensor) and not bool(value.ne(0).any())):
            return
        owner = zero_grad_owner(frame)
        name = self._label_of(leaf) or "p"
        zeros = f"{name}.grad = {'None' if value is None else 'zeros'}"
        how = zero_grad_how(owner, self._where()) if owner else zeros
        after = None if value is None else summarize(value)
        self._add("zeroed", leaf, how, self._where(), summarize(old), after)

    def before_inplace(self, name: str, args: Sequence[Any], frame: Any) -> list[Any]:
        """Before an in-place op: what it may zero (a ``.grad``) or update (a leaf); returns a token."""
        target = args[0] if args else None
        targets = target if isinstance(target, list | tuple) else [target]
        found: list[Any] = []
        short = name.removeprefix("Tensor.")
        for tensor in targets:
            if not isinstance(tensor, torch.Tensor):
                continue
            if short in ZEROING:
                leaf = self._grad_owner(tensor)
                if leaf is not None:
                    found.append(("zeroed", leaf, tensor, summarize(tensor), short))
                    continue
            leaf = self._leaf_of(tensor)
            if leaf is not None and not self.in_step and leaf.numel() <= SMALL:
                found.append(("update", leaf, tensor, snapshot(leaf), short))
        if found:
            found.append(zero_grad_owner(frame))
        return found

    def after_inplace(self, token: list[Any]) -> None:
        """After the in-place op `before_inplace` saw: its entries."""
        if not token:
            return
        owner, where = token[-1], self._where()
        code = where.code if where is not None else None
        for kind, leaf, tensor, before, op in token[:-1]:
            name = self._label_of(leaf) or "p"
            if kind == "zeroed":
                zeroed = summarize(tensor)
                if zeroed.norm == 0.0 and before.norm != 0.0:
                    how = zero_grad_how(owner, where) if owner else zeroing_how(name, code, op)
                    self._add("zeroed", leaf, how, where, before, zeroed)
            else:
                after = snapshot(leaf)
                if after != before:
                    self._remember(leaf, after)
                    self._add("update", leaf, update_how(name, code, op), where, before, after)

    def _grad_owner(self, tensor: torch.Tensor) -> torch.Tensor | None:
        address = _address(tensor)
        ref = self._grads.get(address) if address is not None else None
        leaf = ref() if ref is not None else None
        if leaf is None or leaf.grad is None or _address(leaf.grad) != address:
            return None
        return leaf

    def _leaf_of(self, tensor: torch.Tensor) -> torch.Tensor | None:
        if tensor in self._leaves:
            return tensor
        if not self._by_ptr:
            leaves = list(self._leaves.keys())
            self._by_ptr = {address: tensor_ref(leaf) for leaf in leaves if (address := _address(leaf))}
        address = _address(tensor)
        ref = self._by_ptr.get(address) if address is not None else None
        leaf = ref() if ref is not None else None
        if leaf is None or leaf.shape != tensor.shape:
            return None
        return leaf


def _address(tensor: torch.Tensor) -> int | None:
    """Where a dense tensor's data starts; None for one without storage (a sparse ``.grad``, say)."""
    if tensor.layout != torch.strided:
        return None
    try:
        return tensor.data_ptr()
    except RuntimeError:  # a wrapper subclass or functional tensor without storage
        return None
