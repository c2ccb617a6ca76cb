"""gradviz's weak references to the user's tensors: at most one per tensor, so it can be lifted for a swap.

``torch.utils.swap_tensors`` (``model.to()`` with ``torch.__future__.set_swap_module_params_on_conversion``,
and always for wrapper subclasses such as DTensor) refuses a tensor that has any weak reference. gradviz
keeps its maps keyed by tensor identity without keeping tensors alive, so every map goes through one
`TensorRef` per tensor: `lifted` drops that one weak reference around the swap (the tensor is held
strongly meanwhile) and makes it again after. The swap keeps each Python object, so every map still
names the same object: the parameter the user holds stays the same leaf, as with ``param.data = ...``.

A finished trace keeps its references (``gradviz.explain()`` and ``Tracer.result()`` look tensors up after
the block), so after the last trace ends ``torch.utils.swap_tensors`` stays wrapped, without any trace's
door, while gradviz still references a live tensor; torch's own function is put back once none is left.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial, wraps
from typing import Any, Generic, Protocol, TypeVar

import torch
import torch.utils

from gradviz.capture.door import Part, UserCall
from gradviz.capture.isolation import isolated
from gradviz.capture.swaphooks import drop_empty_hook_dicts, drop_own_hook_dicts, hookless

_TORCH_SWAP = torch.utils.swap_tensors  # torch's own, under any wrappers of nested traces

_T = TypeVar("_T")
_PLAIN = (torch.Tensor, torch.nn.Parameter)
_function_modes, _dispatch_modes = torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack


def _hookless(obj: Any) -> bool:
    """`hookless`, read directly for a plain tensor while no mode is on (inside gradviz's own handler)."""
    if type(obj) not in _PLAIN or _function_modes() or _dispatch_modes():
        return hookless(obj)
    # An op's output (a grad_fn, the usual case) is settled by the first two reads.
    return bool(
        obj.requires_grad
        and obj.grad_fn is None
        and obj._backward_hooks is None
        and obj._post_accumulate_grad_hooks is None
    )


class _Owner(Protocol):
    def _forget(self, key: int, handle: TensorRef[Any]) -> None: ...


class _KeyedRef(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that carries its object's id, so its callback needs no ``partial`` around it."""

    __slots__ = ("key",)
    key: int


def _keyed_ref(obj: Any, key: int) -> _KeyedRef:
    (ref := _KeyedRef(obj, _died)).key = key
    return ref


class TensorRef(Generic[_T]):
    """The one weak reference gradviz holds to a live object; call it for the object (None once freed)."""

    # One shared reference, not none: ids alone are reused by the next tensor, and a swap keeps objects.
    # The first owner has a slot of its own: most objects have one (a dict each is garbage to collect).

    __slots__ = ("__weakref__", "_hookless", "_more", "_owner", "_strong", "_weak", "key")

    def __init__(self, obj: _T, hookless: bool | None = None) -> None:
        self.key = weak_key = id(obj)
        self._hookless = _hookless(obj) if hookless is None else hookless  # to drop gradviz's hook dicts
        weak = _KeyedRef(obj, _died)  # `_keyed_ref`, inline: once per tensor the timeline meets
        weak.key = weak_key
        self._weak: weakref.ref[Any] | None = weak
        self._strong: Any = None
        self._owner: weakref.ref[Any] | None = None
        self._more: dict[int, weakref.ref[Any]] | None = None

    def __call__(self) -> _T | None:
        if self._strong is not None:
            return self._strong  # type: ignore[no-any-return]
        return self._weak() if self._weak is not None else None

    def watch(self, owner: _Owner) -> None:
        """Have ``owner._forget(key, self)`` called once the object is freed (owner held weakly)."""
        self._add_owner(owner, None)

    def _add_owner(self, owner: Any, ref: weakref.ref[Any] | None) -> None:
        """Note `owner` (held through `ref`, made here when None) unless it is noted already."""
        first = self._owner
        if first is None:
            self._owner = ref if ref is not None else weakref.ref(owner)
        elif first() is not owner:
            more = self._more
            if more is None:
                more = self._more = {}
            if id(owner) not in more:
                more[id(owner)] = ref if ref is not None else weakref.ref(owner)

    def owners(self) -> list[Any]:
        """The owners still alive, in the order they were noted."""
        refs = [self._owner] if self._owner is not None else []
        if self._more:
            refs += self._more.values()
        return [owner for ref in refs if (owner := ref()) is not None]


_refs: dict[int, TensorRef[Any]] = {}


def tensor_ref(obj: _T, owner: weakref.ref[Any] | None = None, hookless: bool | None = None) -> TensorRef[_T]:
    """gradviz's one weak reference to `obj`, made the first time it is asked for.

    Args:
        obj: A live object that supports weak references (a tensor, mostly).
        owner: A weak reference to an owner to tell once `obj` is freed (`TensorRef.watch`).
        hookless: Whether `obj` is a leaf without hook dicts, when the caller knows (else read here).

    Returns:
        Its `TensorRef`.
    """
    key = id(obj)
    handle = _refs.get(key)
    if handle is None or handle() is not obj:
        handle = _refs[key] = TensorRef(obj, hookless)
        if not _patches and not _kept:  # a reference taken with no trace in progress
            _keep()
        if owner is not None:
            handle._owner = owner
        return handle
    if owner is not None:
        handle._add_owner(owner(), owner)
    return handle


def _died(weak: _KeyedRef) -> None:
    key = weak.key
    handle = _refs.get(key)
    if handle is None or handle._weak is not weak:
        return
    del _refs[key]
    for owner in handle.owners():
        owner._forget(key, handle)
    if not _refs:
        _unkeep()


def _lift(*objs: Any) -> list[TensorRef[Any]]:
    handles = list(
        {
            id(handle): handle
            for obj in objs
            if (handle := _refs.get(id(obj))) is not None and handle._weak is not None and handle() is obj
        }.values()
    )
    for handle in handles:
        handle._strong, handle._weak = handle(), None
    return handles


@contextmanager
def lifted(*objs: Any) -> Iterator[None]:
    """Hold `objs` strongly instead of weakly inside the block: gradviz then has no weak reference to them."""
    handles = _lift(*objs)
    try:
        yield
    finally:
        relink(handles)


def relink(handles: list[TensorRef[Any]]) -> None:
    """Make each lifted handle's weak reference again (the object is the same Python object as before)."""
    for handle in handles:
        handle._weak = _keyed_ref(handle._strong, handle.key)
        handle._strong = None


def swap_lifted(original: Callable[[Any, Any], None], t1: Any, t2: Any) -> None:
    """``original(t1, t2)`` as if gradviz held no reference to t1 or t2, outside any trace's door.

    A weak reference of the user's still makes torch refuse, with torch's own error. A fault of gradviz's
    never reaches the user: a lift that failed leaves the swap to torch as it is, and a handle that cannot
    be made again forgets its tensor instead of keeping it alive.
    """
    try:
        handles = _lift(t1, t2)
    except Exception:
        handles = []
    try:
        original(t1, t2)
    finally:
        for handle in handles:
            try:
                relink([handle])
            except Exception:
                handle._strong = handle._weak = None
                _refs.pop(handle.key, None)


_patches: list[SwapPatch] = []  # one per trace in progress, innermost last
_kept: list[Callable[..., Any]] = []  # [the wrapper left after every trace, what it wraps]


def _keep() -> None:
    """After the last trace: wrap torch's swap while a finished trace still references a live tensor."""
    if _kept or not _refs:
        return
    original: Callable[[Any, Any], None] = torch.utils.swap_tensors

    @wraps(original)
    def swap_tensors(t1: Any, t2: Any) -> None:
        swap_lifted(original, t1, t2)

    _kept[:] = [swap_tensors, original]
    torch.utils.swap_tensors = swap_tensors


def _unkeep() -> None:
    """Put back what the after-trace wrapper wraps (unless someone replaced the wrapper since)."""
    if not _kept:
        return
    wrapper, original = _kept
    _kept.clear()
    if torch.utils.swap_tensors is wrapper:
        torch.utils.swap_tensors = original


class SwapPatch:
    """Wraps ``torch.utils.swap_tensors`` while tracing, so that gradviz's weak references never block it.

    Args:
        part: The part of capture the wrapper belongs to: a fault in it never reaches the user's swap.
        on_swap: Told the two tensors of each swap that succeeded (the first now holds the second's data),
            once gradviz's hook dicts left on the first are dropped (`drop_own_hook_dicts`).
    """

    def __init__(self, part: Part, on_swap: Callable[[Any, Any], None] | None = None) -> None:
        self._part = part
        self._on_swap = on_swap
        self._original: Callable[..., Any] | None = None
        self._wrapper: Callable[..., Any] | None = None

    def install(self) -> None:
        """Put the wrapper in place (torch's callers look ``torch.utils.swap_tensors`` up at call time)."""
        _unkeep()  # a trace's own wrapper does what the after-trace one did, and more
        original: Callable[[Any, Any], None] = torch.utils.swap_tensors
        self._original = original

        @wraps(original)
        def swap_tensors(t1: Any, t2: Any) -> None:
            # Not skipped once a fault switched the part off: without the lift, torch refuses the swap.
            if self._wrapper is None:  # a reference to it kept after tracing ended
                swap_lifted(original, t1, t2)
                return
            self._part.through(UserCall(original, (t1, t2), {}), partial(self._swap, t1, t2))

        self._wrapper = swap_tensors
        torch.utils.swap_tensors = swap_tensors
        if self not in _patches:
            _patches.append(self)

    def _swap(self, t1: Any, t2: Any, call: UserCall) -> None:
        # Only gradviz's references are lifted: a weak reference of the user's still makes torch refuse.
        with lifted(t1, t2):
            call()
        if self._original is _TORCH_SWAP:  # the innermost wrapper: before any trace hooks t1 again
            drop_own_hook_dicts(t1, t2)
        if self._on_swap is not None:
            self._on_swap(t1, t2)

    def restore(self) -> None:
        """Put torch's function back, unless someone replaced our wrapper since (theirs stays).

        After the last trace, the finished traces' references must not block a swap either (`_keep`).
        """
        if self._original is not None and torch.utils.swap_tensors is self._wrapper:
            torch.utils.swap_tensors = self._original
        self._wrapper = None
        if self in _patches:
            _patches.remove(self)
        if _patches:
            return
        self._part.run(_drop_left_hook_dicts)
        try:
            _keep()
        except Exception as error:  # not through `run`: a part switched off still needs swaps to work
            self._part.fault(error)


def _drop_left_hook_dicts() -> None:
    with isolated():  # once for all: each drop would otherwise take the modes off and put them back
        for handle in list(_refs.values()):
            obj = handle()
            if handle._hookless and obj is not None:
                drop_empty_hook_dicts(obj)
