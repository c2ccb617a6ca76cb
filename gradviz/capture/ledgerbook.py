"""The ledger a student reads: each leaf's ``.grad`` and value over time, as named events at their lines.

Backward adds into ``.grad``; ``optimizer.zero_grad()``, ``p.grad = None``, ``p.grad.zero_()`` and
``p.grad.data.zero_()`` empty it; ``optimizer.step()`` and ``w -= lr * w.grad`` (under no_grad, or through
``.data``) change the leaf. The forward recorder tells the book about each ``.grad`` read, ``.grad``
assignment and in-place op; the Tracer about each backward call and optimizer step. Only small leaves
(`SMALL` elements) get update entries, and past `HEAD_CALLS` calls only the last few calls are kept:
the ledger is for seeing numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from gradviz.capture.summary import Snapshot, _flat, snapshot, summarize
from gradviz.capture.tensorrefs import TensorMap, TensorRef, tensor_ref
from gradviz.model import BackwardCall, LedgerEntry, LedgerKind, Location, Value

#: Leaves with at most this many elements get update entries with their values.
SMALL = 8
#: Small leaves kept alive until the ledger is read, so an update after the last call is still seen.
KEPT = 64
#: At most this many entries are kept for the first calls (the first steps are the ones to read).
MAX_ENTRIES = 2000
#: Entries of calls after this one are kept only for the last `TAIL_CALLS` calls (where training ended).
HEAD_CALLS = 100
TAIL_CALLS = 3

LabelOf = Callable[[torch.Tensor], "str | None"]
Where = Callable[[], "Location | None"]

_Raw = tuple[
    LedgerKind, "TensorRef[torch.Tensor] | None", "str | None", str, "Location | None", int,
    "Value | Snapshot | None", "Value | Snapshot | None", "Value | Snapshot | None", bool,
]  # fmt: skip

_ZEROING = frozenset({"zero_", "_foreach_zero_", "fill_", "mul_"})


_ZERO_GRAD_CALL = re.compile(r"([A-Za-z_][\w.]*)\.zero_grad\(")


def _zero_grad_how(owner: str, where: Location | None) -> str:
    """``opt.zero_grad()`` as the user's line calls it, else ``optimizer.zero_grad()`` (or ``model.``)."""
    found = _ZERO_GRAD_CALL.search(where.code or "") if where is not None else None
    return f"{found.group(1) if found else owner}.zero_grad()"


def _zero_grad_owner(frame: Any) -> str | None:
    """``optimizer`` or ``model`` when a ``zero_grad()`` method is on the stack just above torch's call."""
    for _ in range(6):
        if frame is None:
            return None
        if frame.f_code.co_name == "zero_grad":
            owner = frame.f_locals.get("self")
            return "optimizer" if isinstance(owner, torch.optim.Optimizer) else "model"
        frame = frame.f_back
    return None


class LedgerBook:
    """Collects `LedgerEntry` items while tracing.

    Args:
        label_of: The user's name for a leaf, where known (asked again at the end for unnamed ones).
        where: The user's line right now.
    """

    def __init__(self, label_of: LabelOf, where: Where) -> None:
        self._label_of = label_of
        self._where = where
        self._raw: list[_Raw] = []
        self._tail: list[_Raw] = []
        self._grads: dict[int, TensorRef[torch.Tensor]] = {}  # data_ptr of a .grad read -> its leaf
        self._leaves: TensorMap = TensorMap()
        # leaf -> its .grad after the last call; small leaf -> its last value seen, and `_mark` then
        self._grads_after: TensorMap = TensorMap()
        self._values: TensorMap = TensorMap()
        # The script's variables are gone before the ledger is read: a last manual step needs the leaf.
        self._kept: list[torch.Tensor] = []
        self._by_ptr: dict[int, TensorRef[torch.Tensor]] = {}
        self._stepping: list[tuple[torch.Tensor, Snapshot]] = []
        self.calls = 0
        self.in_step = False

    # ----- what the Tracer tells --------------------------------------------------------------------

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
        label = self._label_of(leaf) if leaf is not None else None
        ref = tensor_ref(leaf) if leaf is not None else None
        entry = (kind, ref, label, how, where, self.calls, before, after, loss, captured)
        if self.calls <= HEAD_CALLS:
            if len(self._raw) < MAX_ENTRIES:
                self._raw.append(entry)
            return
        tail = self._tail
        if tail and tail[-1][5] != self.calls and len({item[5] for item in tail}) >= TAIL_CALLS:
            oldest = tail[0][5]
            tail[:] = [item for item in tail if item[5] != oldest]
        tail.append(entry)

    def captured(self, call: BackwardCall, leaves: Sequence[torch.Tensor], roots: Sequence[Any]) -> None:
        """A captured call: one entry per leaf it reached, with ``.grad`` before and after."""
        self.calls = call.index
        loss = _loss(roots)
        if call.api != "backward":  # torch.autograd.grad returns its gradients; no .grad changes
            self._add("backward", None, call.api, call.location, None, None, loss)
            return
        for node, leaf in zip(call.graph.leaves, leaves, strict=False):
            info = node.tensor
            if info is None or (info.grad_before == info.grad_after and call.error is not None):
                continue
            self.learn(leaf)
            self._grads_after[leaf] = info.grad_after
            if leaf.numel() <= SMALL:
                self._value_of(leaf)
            self._add("backward", leaf, call.api, call.location, info.grad_before, info.grad_after, loss)
            loss = None  # the loss once per call, on its first leaf
        if loss is not None:
            self._add("backward", None, call.api, call.location, None, None, loss)

    def counted(self, index: int, roots: Sequence[Any]) -> None:
        """A call past the capture budget: its loss."""
        self.calls = index
        self._add("backward", None, "backward", None, None, None, _loss(roots), captured=False)

    def counted_arrival(self, leaf: torch.Tensor, held: bool, after: Value | Snapshot | None) -> None:
        """A counted call added into a small leaf's ``.grad``: its entry, and a zeroing seen by its effect."""
        if leaf.numel() > SMALL:
            return
        before, now = self._value_of(leaf)
        if before is not None and now != before:  # updated since the last call: by hand, past the budget
            self.calls -= 1
            self._add("update", leaf, "updated (line not recorded: past --max-backward)", None, before, now)
            self.calls += 1
        last = self._grads_after.get(leaf)
        if not held and last is not None and _nonzero(last):
            self._add("zeroed", leaf, "zeroed (line not recorded: past --max-backward)", None, last, None)
            last = None
        self._add("backward", leaf, "backward", None, last if held else None, after, captured=False)
        self._grads_after[leaf] = after

    def _value_of(self, leaf: torch.Tensor) -> tuple[Snapshot | None, Snapshot]:
        """A small leaf's values when last read and now (remembered as the last read).

        Past `HEAD_CALLS`, values whose version counter and data address did not move are not read
        again: only the ledger's last calls are kept, and an update bumps the version (one through
        ``.data`` alone is then not seen).
        """
        known = self._values.get(leaf)
        mark = _mark(leaf)
        if known is not None and known[1] == mark and self.calls > HEAD_CALLS:
            return known[0], known[0]
        now = snapshot(leaf)
        self._values[leaf] = (now, mark)
        return (known[0] if known is not None else None), now

    def learn(self, leaf: torch.Tensor) -> None:
        """Remember a leaf, so in-place updates of it (or of its ``.data``) become entries."""
        if leaf not in self._leaves:
            self._leaves[leaf] = True
            self._by_ptr = {}
            if leaf.numel() <= SMALL and len(self._kept) < KEPT:
                self._kept.append(leaf)

    def step_starting(self, params: Sequence[torch.Tensor]) -> None:
        """Before ``optimizer.step()``: the small parameters' values."""
        self.in_step = True
        full = len(self._raw) >= MAX_ENTRIES and self.calls <= HEAD_CALLS
        self._stepping = [] if full else [(p, self._value_of(p)[1]) for p in params if p.numel() <= SMALL]

    def step_done(self) -> None:
        """After ``optimizer.step()``: one update entry per small parameter that changed."""
        self.in_step = False
        where = self._where()
        for param, before in self._stepping:  # unchanged values too: the loop table shows every step seen
            after = self._value_of(param)[1]
            self._add("update", param, "optimizer.step()", where, before, after)
        self._stepping = []

    # ----- what the forward recorder tells ----------------------------------------------------------

    def grad_read(self, leaf: torch.Tensor, grad: Any) -> None:
        """``leaf.grad`` was read: an in-place op on it (or on its ``.data``) may zero it."""
        if isinstance(grad, torch.Tensor) and leaf.is_leaf:
            if len(self._grads) > 4096:
                self._grads.clear()
            self._grads[grad.data_ptr()] = tensor_ref(leaf)

    def grad_set(self, leaf: torch.Tensor, value: Any, frame: Any) -> None:
        """Before ``leaf.grad = value``: a zeroing when value is None (or zeros) and ``.grad`` held one."""
        old = leaf.grad
        if old is None or not leaf.is_leaf:
            return
        if value is not None and not (isinstance(value, torch.Tensor) and not bool(value.ne(0).any())):
            return
        owner = _zero_grad_owner(frame)
        name = self._label_of(leaf) or "p"
        zeros = f"{name}.grad = {'None' if value is None else 'zeros'}"
        how = _zero_grad_how(owner, self._where()) if owner else zeros
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
            if short in _ZEROING:
                leaf = self._grad_owner(tensor)
                if leaf is not None:
                    found.append(("zeroed", leaf, tensor, summarize(tensor), short))
                    continue
            leaf = self._leaf_of(tensor)
            if leaf is not None and not self.in_step and leaf.numel() <= SMALL:
                found.append(("update", leaf, tensor, snapshot(leaf), short))
        if found:
            found.append(_zero_grad_owner(frame))
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
                    how = _zero_grad_how(owner, where) if owner else _zeroing_how(name, code, op)
                    self._add("zeroed", leaf, how, where, before, zeroed)
            else:
                after = snapshot(leaf)
                if after != before:
                    self._values[leaf] = (after, _mark(leaf))
                    self._add("update", leaf, _update_how(name, code, op), where, before, after)

    def _grad_owner(self, tensor: torch.Tensor) -> torch.Tensor | None:
        ref = self._grads.get(tensor.data_ptr())
        leaf = ref() if ref is not None else None
        if leaf is None or leaf.grad is None or leaf.grad.data_ptr() != tensor.data_ptr():
            return None
        return leaf

    def _leaf_of(self, tensor: torch.Tensor) -> torch.Tensor | None:
        if tensor in self._leaves:
            return tensor
        if not self._by_ptr:
            self._by_ptr = {leaf.data_ptr(): tensor_ref(leaf) for leaf in list(self._leaves.keys())}
        ref = self._by_ptr.get(tensor.data_ptr())
        leaf = ref() if ref is not None else None
        if leaf is None or leaf.shape != tensor.shape:
            return None
        return leaf

    # ----- the result -------------------------------------------------------------------------------

    def entries(self) -> tuple[LedgerEntry, ...]:
        """The ledger so far, names learnt later filled in."""
        out = []
        for kind, ref, label, how, where, call, before, after, loss, captured in (*self._raw, *self._tail):
            leaf = ref() if ref is not None else None
            if label is None and leaf is not None:
                label = self._label_of(leaf)
                if label is not None:
                    how = how.replace("p.grad", f"{label}.grad", 1).replace("p -=", f"{label} -=", 1)
            values = shown(before), shown(after), shown(loss)
            out.append(LedgerEntry(kind, label, how, where, call, *values, captured))
        return (*out, *self._since_last_call())

    def _since_last_call(self) -> list[LedgerEntry]:
        """Small leaves updated after the last call that was followed (a last manual step, say)."""
        found = []
        for leaf, (before, _) in list(self._values.items()):
            now = snapshot(leaf)
            if now != before and self.calls > 0:
                how = "updated (line not recorded: past --max-backward)"
                label = self._label_of(leaf)
                found.append(LedgerEntry("update", label, how, None, self.calls, before.value, now.value))
        return found


def _mark(leaf: torch.Tensor) -> object:
    """What moves when a leaf's values are replaced or changed in place, but not through ``.data``."""
    try:
        return (leaf._version, leaf.data_ptr())
    except RuntimeError:  # a tensor without storage: never the same
        return object()


def _nonzero(value: Value | Snapshot) -> bool:
    """Whether a gradient as recorded held anything (a NaN counts), without making a snapshot's `Value`."""
    if isinstance(value, Snapshot):
        return value.listed is None or any(item != 0 for item in _flat(value.listed, len(value.shape)))
    return value.norm != 0.0


def shown(value: Value | Snapshot | None) -> Value | None:
    """A `Value` as recorded, or made from the values a `Snapshot` read."""
    return value.value if isinstance(value, Snapshot) else value


def _zeroing_how(name: str, code: str | None, op: str) -> str:
    """``w.grad.data.zero_()`` as the user's line says it, else ``w.grad.zero_()``."""
    text = (code or "").split("#", 1)[0].strip()
    if ".grad" in text and op in text and len(text) <= 40:
        return text
    return f"{name}.grad.{op}()"


def _update_how(name: str, code: str | None, op: str) -> str:
    """``w -= ...`` as the user's line says it, else ``w.sub_(...)``."""
    text = (code or "").split("#", 1)[0].strip()
    if text and ("-=" in text or "+=" in text or op.rstrip("_") in text):
        return text if len(text) <= 40 else text[:37] + "..."
    return f"{name}.{op}(...)"


def _loss(roots: Sequence[Any]) -> Snapshot | None:
    root = roots[0] if roots else None
    if isinstance(root, torch.Tensor) and root.numel() == 1:
        return snapshot(root)
    return None
