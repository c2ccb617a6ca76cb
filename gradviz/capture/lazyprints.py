"""Saved-tensor fingerprints taken only when a write may bypass autograd's version counter.

A saved tensor can change behind the version counter only through a write the timeline marks (a
``.data`` use, an in-place op on a tensor autograd does not track, an ``out=`` write, raw memory access),
and the mark comes before the write. So a new node is only remembered; at a mark, the nodes made since
the previous one are fingerprinted (their saved tensors are still as the forward pass left them), and
nodes that no mark follows are never read. Backward compares only nodes made before the latest mark.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradviz.capture.isolation import isolated
from gradviz.capture.origin import ORIGIN_KEY, NodeOrigin, origin_of, set_origin, update_origin
from gradviz.capture.records import twin_of
from gradviz.capture.saved import (
    Fingerprint,
    FingerprintCache,
    fingerprints_of,
    read_names,
    read_saved,
    saved_names,
    storage_of,
)
from gradviz.model import Location

#: Nodes waiting for a mark: beyond this many, they are fingerprinted at once (a held node holds its graph).
PENDING_LIMIT = 2048
#: Storages remembered for precise marks: beyond this many, every untracked write marks.
STORAGE_LIMIT = 200_000
_default_hooks = torch._C._autograd._top_saved_tensors_default_hooks
#: `NodeOrigin`'s mutable twin: filled, then given the frozen class (`records.record_maker`, inlined).
_OriginTwin = twin_of(NodeOrigin)
#: A nearby tensor, as the node's op left it: data address, shape, gradviz id.
Nearby = tuple[int, tuple[int, ...], int]


class _Pending:
    """A node waiting for its fingerprints, with the tensors near it: `nearby`, or for the usual op's node
    (`LazyPrints.note_new`) its one output's address, shape and id kept flat (fewer objects per node)."""

    __slots__ = ("grad_fn", "made", "nearby", "probe", "ptr", "shape", "storages")

    def __init__(
        self,
        grad_fn: Any,
        nearby: tuple[Nearby, ...] | None,
        probe: bool,
        ptr: int = 0,
        shape: tuple[int, ...] = (),
        made: int = 0,
    ) -> None:
        self.grad_fn = grad_fn
        self.nearby = nearby
        self.probe = probe
        self.ptr, self.shape, self.made = ptr, shape, made
        self.storages: frozenset[int] | None = None


class _Near:
    """Stands for a tensor of the op that made a node, after the tensor itself may have been freed."""

    __slots__ = ("gradviz_id", "ptr", "shape")

    def __init__(self, ptr: int, shape: tuple[int, ...], gradviz_id: int) -> None:
        self.ptr, self.shape, self.gradviz_id = ptr, shape, gradviz_id

    def data_ptr(self) -> int:
        return self.ptr


class LazyPrints:
    """The nodes made since the last edit mark, fingerprinted when the next one comes.

    Args:
        id_of: gradviz's id for a tensor, or None.
        cache: Fingerprints reused while a tensor's version and storage are unchanged (eager mode only).
    """

    def __init__(self, id_of: Callable[[torch.Tensor], int | None], cache: FingerprintCache) -> None:
        self._id_of = id_of
        self._cache = cache
        self._nodes: dict[int, _Pending] = {}
        self._storages: set[int] = set()
        #: After a mark that means "anything may change at any time", nodes are fingerprinted when made.
        self.eager = False

    def __len__(self) -> int:
        return len(self._nodes)

    def note(
        self,
        grad_fn: Any,
        event: int,
        location: Location | None,
        tensor_id: int | None,
        nearby: tuple[Nearby, ...],
        *,
        made_now: bool = True,
    ) -> None:
        """Give a new node its `NodeOrigin` (first writer wins); fingerprints now (eager) or at the next mark.

        Args:
            grad_fn: The node an op just created.
            event: Id of that op's event.
            location: The op's line.
            tensor_id: gradviz id of the tensor the node produced.
            nearby: The op's outputs and inputs, to name a saved output (unpacked as a new tensor).
            made_now: Whether the op just made the node (then, with no default hooks pushed, no saved
                tensor of it has an unpack hook).
        """
        if origin_of(grad_fn) is not None:
            return
        # Reading a saved tensor runs the user's unpack hook (checkpointing, offloading): leave those alone.
        hooked = _default_hooks(False) is not None
        set_origin(grad_fn, NodeOrigin(event, location, tensor_id, readable=made_now and not hooked))
        if hooked:
            return
        self._wait(_Pending(grad_fn, nearby, not made_now))

    def note_new(
        self, grad_fn: Any, event: int, location: Location | None, made: int, output: Any, saves: bool
    ) -> None:
        """`note` for the node an op just made as its one plain output's grad_fn (`fastop`), in one pass.

        Args:
            grad_fn: The output's grad_fn.
            event: Id of the op's event.
            location: The op's line.
            made: gradviz id of the output.
            output: The output itself (its address and shape name a saved output later).
            saves: Whether nodes of this type save tensors (`saved_names`).
        """
        metadata = grad_fn.metadata
        if isinstance(metadata.get(ORIGIN_KEY), NodeOrigin):
            return
        if not saves:  # nothing to fingerprint (AddBackward0, TBackward0)
            if ORIGIN_KEY not in metadata:
                origin = _OriginTwin(event, location, made)
                origin.__class__ = NodeOrigin
                metadata[ORIGIN_KEY] = origin
            return
        hooked = _default_hooks(False) is not None
        if ORIGIN_KEY not in metadata:  # a frozen NodeOrigin, made as record_maker makes one
            origin = _OriginTwin(event, location, made, (), not hooked)
            origin.__class__ = NodeOrigin
            metadata[ORIGIN_KEY] = origin
        if hooked:
            return
        try:
            pending = _Pending(grad_fn, None, False, output.data_ptr(), output.shape, made)
        except RuntimeError:  # a tensor without data to point at (sparse): left unnamed
            pending = _Pending(grad_fn, (), False)
        if self.eager:  # `_wait`, inline: once per op that saves tensors
            self._take(pending, self._cache)
            return
        nodes = self._nodes
        nodes[id(grad_fn)] = pending
        if len(nodes) > PENDING_LIMIT:
            self.take()

    def _wait(self, pending: _Pending) -> None:
        """Let a node wait for its fingerprints until an edit mark (now when eager or too many wait)."""
        if self.eager:
            self._take(pending, self._cache)
            return
        self._nodes[id(pending.grad_fn)] = pending
        if len(self._nodes) > PENDING_LIMIT:
            self.take()

    def take(self) -> None:
        """Fingerprint every waiting node now: call it before a write that may bypass the version counter."""
        if not self._nodes:
            return
        nodes, self._nodes = self._nodes, {}
        cache: FingerprintCache = {}  # one moment: a tensor saved by several nodes is read once
        with isolated():
            for pending in nodes.values():
                self._take(pending, cache)

    def _take(self, pending: _Pending, cache: FingerprintCache) -> None:
        grad_fn = pending.grad_fn
        nearby = pending.nearby
        if nearby is None:
            near = [_Near(pending.ptr, pending.shape, pending.made)]
        else:
            near = [_Near(*item) for item in nearby]
        prints: tuple[tuple[str, Fingerprint], ...] = ()
        # Unreadable saved tensors (freed, or changed in place since): the node stays without the check.
        with contextlib.suppress(Exception):
            prints = fingerprints_of(grad_fn, self._near_id, near, cache, probe=pending.probe)  # type: ignore[arg-type]
        if not prints:
            return
        origin = origin_of(grad_fn)
        if origin is not None:
            update_origin(grad_fn, dataclasses.replace(origin, fingerprints=prints))
        if len(self._storages) <= STORAGE_LIMIT:
            self._storages.update(print_.storage for _, print_ in prints if print_.storage is not None)

    def _near_id(self, tensor: Any) -> int | None:
        if isinstance(tensor, _Near):
            return tensor.gradviz_id
        return self._id_of(tensor)

    def may_touch(self, tensor: torch.Tensor) -> bool:
        """Whether writing `tensor` may change a saved tensor of a node made so far (shares its storage).

        Args:
            tensor: The tensor an untracked in-place op or ``out=`` is about to write.
        """
        if len(self._storages) > STORAGE_LIMIT:
            return True
        with isolated():
            written = storage_of(tensor)
            if written is None or written in self._storages:
                return True
            for pending in self._nodes.values():
                if pending.storages is None:
                    pending.storages = _saved_storages(pending)
                if written in pending.storages:
                    return True
        return False

    def forget(self, fns: Sequence[Any]) -> None:
        """After a backward call: `fns` ran and their saved tensors are freed, so no edit can reach them;
        the other waiting nodes (a graph not backpropagated, a retained one) are fingerprinted now, so that
        gradviz does not keep their graphs alive."""
        if self._nodes:
            for fn in fns:
                self._nodes.pop(id(fn), None)
            self.take()


#: Per node type: the saved attributes that may hold a tensor (``stride``, ``eps``, sizes never do).
_tensor_names: dict[type, tuple[str, ...]] = {}


def _saved_storages(pending: _Pending) -> frozenset[int]:
    grad_fn = pending.grad_fn
    names = _tensor_names.get(type(grad_fn))
    try:
        if names is None or pending.probe:
            pairs = read_saved(grad_fn, probe=pending.probe)
            if not pending.probe:  # made now with no hooks pushed: reading every attribute runs no user code
                _learn_tensor_names(grad_fn)
        else:
            with isolated():
                pairs = read_names(grad_fn, names)
    except Exception:  # freed or changed in place: never fingerprinted, so never compared
        return frozenset()
    found = {storage_of(tensor) for _, tensor in pairs}
    found.discard(None)
    return frozenset(found)  # type: ignore[arg-type]


def _learn_tensor_names(grad_fn: Any) -> None:
    """Note which of the node type's saved attributes can hold a tensor (a None may be an absent one)."""
    names = saved_names(grad_fn)
    if "saved_tensors" in names:  # a custom Function: read as torch gives them
        return
    kept: list[str] = []
    with isolated():
        for name in names:
            value = getattr(grad_fn, "_saved_" + name)
            if isinstance(value, (tuple, list)):
                if not value or any(item is None or isinstance(item, torch.Tensor) for item in value):
                    kept.append(name)
            elif value is None or isinstance(value, torch.Tensor):
                kept.append(name)
    _tensor_names[type(grad_fn)] = tuple(kept)
