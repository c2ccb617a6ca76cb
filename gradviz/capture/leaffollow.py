"""Following leaves through the calls past the capture budget, at a few reads per leaf and call.

Just before each such call reaches the engine, every followed leaf's ``.grad`` is noted (the tensor, its
version, whether it held a non-zero gradient); once the engine is done, a ``.grad`` that is another
tensor, or the same one with a new version, is one the call added into. Read once the engine is done,
not as the gradient accumulates: DDP all-reduces the gradients in a callback at the end of backward.
No hook is put on the leaves; leaves are held by weak reference, and strongly only while a call runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.leafstate import LeafState, holds_any
from gradviz.capture.ledgervalues import read
from gradviz.capture.summary import Snapshot, _detach, dtype_name, summarize
from gradviz.capture.tensorrefs import TensorRef, tensor_ref
from gradviz.model import Value

#: Gradients with at most this many elements keep their values after the capture budget.
SMALL = 8

#: A real gradient of at most this many elements on the CPU is copied as a list; its norm is taken when shown.
LISTED_NORM = 64
_LISTED = (torch.float32, torch.float64)
_NAMES = {dtype: dtype_name(dtype) for dtype in _LISTED}
_STRIDED = torch.strided

#: One call's arrival: the leaf, its state, whether ``.grad`` held a gradient before, ``.grad`` after.
Reached = tuple[torch.Tensor, LeafState, bool, Any]


class NormRead(Snapshot):
    """A big gradient as read past the budget: its norm; the `Value` is made when first asked for."""

    __slots__ = ("norm",)

    def __init__(self, shape: tuple[int, ...], dtype: str, norm: float | None) -> None:
        super().__init__(shape, dtype, None, True)
        self.norm = norm

    @property
    def value(self) -> Value:
        """Shape, dtype and norm (what a big gradient past the budget is shown by)."""
        if self._value is None:
            self._value = Value(shape=self.shape, dtype=self.dtype, norm=self.norm)
        return self._value


class ListedNorm(NormRead):
    """A gradient of a few dozen elements past the budget: its values copied as a list (cheaper than a
    norm op on every call), its norm taken by torch on the same values when first shown."""

    __slots__ = ("_listed", "_torch_dtype")

    def __init__(self, grad: torch.Tensor) -> None:
        # NormRead's and Snapshot's fields set here directly: one of these is made per leaf and call.
        dtype = self._torch_dtype = grad.dtype
        self.shape, self.dtype, self.listed, self.numeric = tuple(grad.shape), _NAMES[dtype], None, True
        self._value, self.norm = None, None
        self._listed: Any = grad.tolist()

    @property
    def value(self) -> Value:
        """Shape, dtype and norm, as for a bigger gradient."""
        if self._value is None:
            with isolated():
                values = torch.tensor(self._listed, dtype=self._torch_dtype)
                self.norm = float(torch.linalg.vector_norm(values))
            self._listed = None
        return super().value


class _Followed:
    """A followed leaf, and its ``.grad`` as the current call found it."""

    __slots__ = ("held", "leaf", "old", "ref", "state", "version")

    def __init__(self, ref: TensorRef[torch.Tensor], state: LeafState) -> None:
        self.ref = ref
        self.state = state
        self.leaf: torch.Tensor | None = None  # held during the call only, as `old` is
        self.old: torch.Tensor | None = None
        self.version = 0
        self.held = False


class Follower:
    """The leaves a ledger follows past the budget, read before and after each call."""

    def __init__(self) -> None:
        self._followed: list[_Followed] = []
        self._ready = False

    def follow(self, leaves: Iterable[tuple[torch.Tensor, LeafState]]) -> None:
        """Follow these leaves from the next call on."""
        self._followed.extend(_Followed(tensor_ref(leaf), state) for leaf, state in leaves)

    def clear(self) -> None:
        """Follow nothing more (the leaves and gradients noted are let go)."""
        self._followed.clear()
        self._ready = False

    def let_go(self) -> None:
        """The call failed: let go of the leaves and gradients noted before it (no `reached` follows)."""
        for followed in self._followed:
            followed.leaf = followed.old = None
        self._ready = False

    def before_call(self) -> None:
        """Before a call reaches the engine: each followed ``.grad``, and whether it held a gradient."""
        for followed in self._followed:
            leaf = followed.leaf = followed.ref()
            old = followed.old = leaf.grad if leaf is not None else None
            if old is None:
                followed.held = False
            else:
                followed.version = old._version
                followed.held = holds_any(old)
        self._ready = True

    def reached(self) -> list[Reached]:
        """After the call: each leaf it added into, and ``.grad`` after (small: its values, else its norm)."""
        if not self._ready:
            return []
        self._ready = False
        found: list[Reached] = []
        big: list[int] = []
        for followed in self._followed:
            old, followed.old = followed.old, None  # let go of the old gradient (it may be big)
            leaf, followed.leaf = followed.leaf, None
            if leaf is None:
                continue
            grad = leaf.grad
            if grad is None or (grad is old and grad._version == followed.version):
                continue  # not reached: accumulating replaces .grad or adds into it in place
            numel, state, held = grad.numel(), followed.state, followed.held
            if numel <= SMALL:  # values, as when captured (sparse: no values)
                dtype, strided = grad.dtype, grad.layout is _STRIDED
                if strided and grad.is_cpu and dtype in _NAMES:  # `read`, inlined for the usual gradient
                    shot: Snapshot | Value = Snapshot(tuple(grad.shape), _NAMES[dtype], grad.tolist(), True)
                else:
                    shot = read(grad) if strided else summarize(grad)
                found.append((leaf, state, held, shot))
            elif numel <= LISTED_NORM and grad.is_cpu and grad.layout is _STRIDED and grad.dtype in _NAMES:
                found.append((leaf, state, held, ListedNorm(grad)))
            else:
                big.append(len(found))
                found.append((leaf, state, held, grad))  # its norm below
        if big:
            grads: list[torch.Tensor] = [found[index][3] for index in big]
            for index, grad, norm in zip(big, grads, _norms(grads), strict=True):
                found[index] = (*found[index][:3], NormRead(tuple(grad.shape), dtype_name(grad.dtype), norm))
        return found


def _norms(grads: list[torch.Tensor]) -> list[float | None]:
    """The 2-norm of each gradient: one foreach op for several dense ones of one device and dtype."""
    if len(grads) == 1:
        return [_norm(grads[0])]
    if all(g.layout == torch.strided and not g.is_meta for g in grads):
        kinds = {(g.device, g.dtype) for g in grads}
        if len(kinds) == 1:
            norms = torch._foreach_norm([_detach(g) for g in grads])
            return torch.stack(norms).tolist()
    return [_norm(grad) for grad in grads]


def _norm(grad: torch.Tensor) -> float | None:
    if grad.layout is _STRIDED and not grad.is_meta:  # the usual gradient, first
        return float(torch.linalg.vector_norm(_detach(grad)))
    if grad.is_meta:  # a shape and no data
        return None
    if grad.layout == torch.sparse_coo:  # the norm of its stored values, duplicates added up first
        return float(torch.linalg.vector_norm(_detach(grad).coalesce()._values()))
    return summarize(grad).norm  # another layout
