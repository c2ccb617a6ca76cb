"""Cuts of the graph (no_grad blocks, ``detach()``), and whether one cost a gradient the run needed.

Autograd records nothing for an op under ``no_grad`` and gives a detached tensor no history. Most such cuts
are meant: evaluation, a GAN's ``fake.detach()``, truncated BPTT, a target network. A cut is a bug only when
its result feeds a graph that a later backward ran through while the leaves upstream of the cut (the
parameters it was computed from) received no gradient from any backward call of the run: they never train.
`CutLedger` keeps each cut once per line (once per block for ``no_grad``), the leaves upstream of it, and,
through one tensor hook per such leaf, whether any backward or grad call ever reached them.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from gradviz.capture.location import user_frame
from gradviz.capture.names import collect_names
from gradviz.capture.origin import grad_fn_of
from gradviz.capture.tensormap import TensorMap
from gradviz.capture.wording import assigned_name, detached_name
from gradviz.model import GradMode, Location

CutKind = Literal["no_grad", "detach"]
#: Instances of one cut whose upstream leaves are collected (a loop repeats the same leaves).
MAX_WALKS = 3
#: Nodes visited per upstream walk: enough for any model's parameters, bounded for huge graphs.
MAX_WALK_NODES = 20_000
#: Output ids kept per cut to follow where its results went.
MAX_OUTPUTS = 50_000


@dataclass
class Cut:
    """One cut site: a ``no_grad`` block (by its ``with`` or call line) or a ``detach()`` line.

    Attributes:
        kind: ``"no_grad"`` or ``"detach"``.
        mode: The grad mode of the ops (``no_grad`` or ``inference_mode`` for blocks).
        location: Where the finding points: the block's ``with`` line (or the decorated function's call
            line), or the ``detach()`` line.
        first: The first op of the block that took tensors requiring grad (the detach line itself).
        label: The user's name for what was cut, where the line says.
        count: How many ops (or detach calls) it covered while the timeline was recording.
        outputs: gradviz ids of the tensors it produced.
        walks: How many instances had their upstream leaves collected.
    """

    kind: CutKind
    mode: GradMode
    location: Location | None
    first: Location | None
    label: str | None
    count: int = 0
    outputs: set[int] = field(default_factory=set)
    walks: int = 0
    leaves: dict[int, LeafFacts] = field(default_factory=dict)


@dataclass
class LeafFacts:
    """What the verdict needs about a leaf upstream of a cut; kept as plain facts, since the script may
    have dropped the leaf (its model) by the time findings are read.

    Attributes:
        serial: Its number among the leaves watched.
        label: The user's name for it (``encoder.weight``), found while the cut ran.
        tensor_id: gradviz's id for it, where the timeline had one.
        reached: Whether a backward or grad call computed a gradient for it after it was watched.
        optimized: Whether an optimizer that stepped holds it.
    """

    serial: int
    label: str | None
    tensor_id: int | None
    reached: bool = False
    optimized: bool = False


def upstream_leaves(tensors: Iterable[torch.Tensor], limit: int = MAX_WALK_NODES) -> list[torch.Tensor]:
    """The leaves that require grad behind some tensors: themselves, or the AccumulateGrad nodes' variables.

    Args:
        tensors: Tensors that require grad.
        limit: At most this many nodes are visited.

    Returns:
        The leaf tensors, each once.
    """
    found: dict[int, torch.Tensor] = {}
    stack: list[Any] = []
    for tensor in tensors:
        grad_fn = grad_fn_of(tensor)
        if grad_fn is None:
            found.setdefault(id(tensor), tensor)
        else:
            stack.append(grad_fn)
    seen: set[int] = set()
    while stack and len(seen) < limit:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        variable = getattr(fn, "variable", None)
        if isinstance(variable, torch.Tensor):
            found.setdefault(id(variable), variable)
            continue
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return list(found.values())


class CutLedger:
    """Every cut site seen while recording, and which upstream leaves any backward reached since."""

    def __init__(self) -> None:
        self.cuts: dict[tuple[CutKind, Location | None], Cut] = {}
        self._facts: TensorMap = TensorMap()
        self._optimized: TensorMap = TensorMap()
        self._optimizers: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # -> param count
        self._handles: list[Any] = []
        #: Whether any optimizer stepped while tracing.
        self.stepped = False
        #: Wraps each hook (the door's `Part.hook`, set by the `Judge`); hooks then never raise.
        self.guard: Callable[[Callable[..., Any]], Callable[..., None]] = _unguarded

    def note(
        self,
        kind: CutKind,
        mode: GradMode,
        location: Location,
        block: Location | None,
        sources: Sequence[torch.Tensor],
        outputs: Sequence[int],
        id_of: Callable[[torch.Tensor], int | None] = lambda tensor: None,
    ) -> None:
        """Count one op that cut tensors requiring grad out of the graph.

        Args:
            kind: ``"no_grad"`` for an op under no_grad/inference_mode, ``"detach"`` for a detach.
            mode: The grad mode it ran under.
            location: The op's own line.
            block: For ``no_grad``, the line that switched grad off (the ``with`` or call line), if known.
            sources: Its inputs that require grad.
            outputs: gradviz ids of its results.
            id_of: gradviz's id of a tensor, or None.
        """
        where = block if kind == "no_grad" and block is not None else location
        cut = self.cuts.get((kind, where))
        if cut is None:
            label = detached_name(location) if kind == "detach" else assigned_name(location)
            cut = self.cuts[(kind, where)] = Cut(kind, mode, where, location, label)
        cut.count += 1
        if len(cut.outputs) < MAX_OUTPUTS:
            cut.outputs.update(outputs)
        if cut.walks < MAX_WALKS and sources:
            cut.walks += 1
            leaves = [leaf for leaf in upstream_leaves(sources) if leaf.requires_grad]
            unnamed = [leaf for leaf in leaves if leaf not in self._facts]
            # Named now, while the user's frames (and their modules) are on the stack.
            names = collect_names(user_frame(sys._getframe(1))) if unnamed else None
            for leaf in leaves:
                facts: LeafFacts | None = self._facts.get(leaf)
                if facts is None:
                    facts = self._watch(leaf, names.name_of(leaf) if names is not None else None, id_of(leaf))
                cut.leaves[facts.serial] = facts

    def _watch(self, leaf: torch.Tensor, label: str | None, tensor_id: int | None) -> LeafFacts:
        facts = LeafFacts(len(self._facts), label, tensor_id, optimized=leaf in self._optimized)
        self._facts[leaf] = facts
        self._hook(leaf, facts)
        return facts

    def _hook(self, leaf: torch.Tensor, facts: LeafFacts) -> None:
        try:
            self._handles.append(leaf.register_hook(self.guard(_Reach(facts))))  # type: ignore[no-untyped-call]
        except RuntimeError:
            facts.reached = True  # cannot be followed: never the ground for a warning

    def swapped(self, leaf: torch.Tensor) -> None:
        """After ``torch.utils.swap_tensors``: watch the leaf again (its hook went with its old data)."""
        facts: LeafFacts | None = self._facts.get(leaf)
        if facts is not None and not facts.reached:
            self._hook(leaf, facts)

    def optimizer_stepped(self, params: Iterable[torch.Tensor], optimizer: Any, count: int) -> None:
        """Note an optimizer step: the leaves it holds are meant to train (read again only when `count`, how
        many it holds, moved: ``add_param_group`` when a frozen block is unfrozen)."""
        self.stepped = True
        if self._optimizers.get(optimizer) == count:
            return
        self._optimizers[optimizer] = count
        for param in params:
            self._optimized[param] = True
            facts: LeafFacts | None = self._facts.get(param)
            if facts is not None:
                facts.optimized = True

    def unwatch(self) -> None:
        """Remove every hook; what was reached stays known."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _unguarded(hook: Callable[..., Any]) -> Callable[..., None]:
    return hook


class _Reach:
    """Tensor hook: marks its leaf as reached by a backward or grad call, leaving the gradient untouched."""

    def __init__(self, facts: LeafFacts) -> None:
        self._facts = facts

    def __call__(self, grad: torch.Tensor) -> None:
        self._facts.reached = True
