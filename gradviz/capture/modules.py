"""Which ``nn.Module`` call produced each grad_fn, recorded with global module forward hooks.

A forward pre-hook notes autograd's sequence number (every new Node takes the next one); the forward
hook then walks back from the output's grad_fn through the Nodes made during that call (sequence
number at or above the mark) and tags each one not tagged yet with the call. Inner modules' hooks run
first, so a node carries its innermost module. The tag lives in the node's own ``metadata`` dict.
Paths are those of ``named_modules()`` of the outermost module called (``encoder.layers.3.self_attn``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks

from gradviz.capture.door import Door

_KEY = "gradviz.module"
#: How deep outputs are searched for tensors: ``(out, (h, c))`` of an LSTM is two levels.
_OUTPUT_DEPTH = 3


@dataclass(frozen=True, eq=False, slots=True)
class ModuleCall:
    """One forward call of a module, while a tracer recorded module paths.

    Attributes:
        root: The outermost module of the call chain, whose ``named_modules()`` gives the paths.
        path: The module's path below `root` (``""`` for `root` itself).
        type: The module's class name.
        parent: The call this one was made from (None for the outermost call).
    """

    root: weakref.ref[nn.Module]
    path: str
    type: str
    parent: ModuleCall | None


def module_call_of(grad_fn: Any) -> ModuleCall | None:
    """The module call recorded as the producer of a node, if any.

    Args:
        grad_fn: An autograd Node.

    Returns:
        The innermost module call during which the node was made, or None.
    """
    try:
        call = grad_fn.metadata.get(_KEY)
    except (AttributeError, RuntimeError):
        return None
    return call if isinstance(call, ModuleCall) else None


@dataclass(frozen=True, slots=True)
class ModuleTree:
    """Paths and class names of every module under one root, by ``named_modules()``.

    Attributes:
        paths: ``id(module)`` to its path; valid while the root keeps its submodules.
        types: Path to class name.
        strangers: ids of modules called under the root that are not in its tree.
    """

    paths: dict[int, str]
    types: dict[str, str]
    strangers: set[int]


_trees: weakref.WeakKeyDictionary[nn.Module, ModuleTree] = weakref.WeakKeyDictionary()


def module_tree(root: nn.Module, *, fresh: bool = False) -> ModuleTree:
    """The paths under `root`, cached per root (recomputed with `fresh`, after the model changed).

    Args:
        root: The outermost module.
        fresh: Recompute rather than use the cache.

    Returns:
        Its module tree.
    """
    tree = None if fresh else _trees.get(root)
    if tree is None:
        paths: dict[int, str] = {}
        types: dict[str, str] = {}
        for path, module in root.named_modules():
            paths[id(module)] = path
            types[path] = type(module).__name__
        tree = ModuleTree(paths, types, set())
        _trees[root] = tree
    return tree


def _grad_fns(value: Any, depth: int = 0) -> list[Any]:
    if isinstance(value, torch.Tensor):
        return [value.grad_fn] if value.grad_fn is not None else []
    if depth >= _OUTPUT_DEPTH:
        return []
    if isinstance(value, (tuple, list)):
        return [fn for item in value for fn in _grad_fns(item, depth + 1)]
    if isinstance(value, dict):
        return [fn for item in value.values() for fn in _grad_fns(item, depth + 1)]
    return []


def tag_new_nodes(outputs: Sequence[Any], call: ModuleCall, mark: int) -> int:
    """Tag the nodes made since sequence number `mark` that lead to `outputs` with `call`.

    Nodes tagged already (by an inner module) keep their tag but are walked through: the nodes the
    outer module made before calling the inner one lie behind them.

    Args:
        outputs: The grad_fns to walk back from.
        call: The module call to tag them with.
        mark: Autograd's next sequence number when the call started.

    Returns:
        How many nodes were tagged.
    """
    # AccumulateGrad nodes carry the largest sequence number; nodes made later than now cannot exist.
    end = torch._C._autograd._get_sequence_nr()
    seen = {id(fn) for fn in outputs}
    pending = list(outputs)
    tagged = 0
    while pending:
        fn = pending.pop()
        if not mark <= fn._sequence_nr() < end:
            continue
        metadata = fn.metadata
        if _KEY not in metadata:
            metadata[_KEY] = call
            tagged += 1
        for next_fn, _ in fn.next_functions:
            if next_fn is not None and id(next_fn) not in seen:
                seen.add(id(next_fn))
                pending.append(next_fn)
    return tagged


class ModuleRecorder:
    """Tags grad_fns with the module call that made them, while started.

    Only the thread that started it is followed: autograd's sequence numbers are per thread.

    Args:
        door: Where a fault goes (it switches module paths off, never the user's forward).
    """

    def __init__(self, door: Door | None = None) -> None:
        self._part = (door or Door()).part("module paths", "later nodes carry no module path")
        self._stack: list[tuple[nn.Module, ModuleCall, int]] = []
        self._handles: list[Any] = []
        self._thread: int | None = None

    @property
    def is_started(self) -> bool:
        """Whether the hooks are in place."""
        return bool(self._handles)

    def start(self) -> None:
        """Register the global module forward hooks."""
        if self._handles:
            return
        self._thread = threading.get_ident()
        self._handles = [
            module_hooks.register_module_forward_pre_hook(self._part.hook(self._before)),
            module_hooks.register_module_forward_hook(self._part.hook(self._after), always_call=True),
        ]

    def stop(self) -> None:
        """Remove the hooks; nodes tagged so far keep their tags."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._stack.clear()

    def _before(self, module: nn.Module, args: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        stack = self._stack
        if stack:
            parent = stack[-1][1]
            root = parent.root()
            path = _path_in(root, module) if root is not None else None
            # A module outside the outermost one's tree (kept in a plain list) counts as its caller.
            call = parent if path is None else ModuleCall(parent.root, path, type(module).__name__, parent)
        else:
            call = ModuleCall(weakref.ref(module), "", type(module).__name__, None)
        stack.append((module, call, torch._C._autograd._get_sequence_nr()))

    def _after(self, module: nn.Module, args: Any, output: Any) -> None:
        if threading.get_ident() != self._thread:
            return
        stack = self._stack
        if not any(entry[0] is module for entry in stack):
            return  # its call started before the hooks were in place
        entry = stack.pop()
        while entry[0] is not module:  # calls that raised before their own hook ran
            entry = stack.pop()
        if output is not None:
            tag_new_nodes(_grad_fns(output), entry[1], entry[2])


def _path_in(root: nn.Module, module: nn.Module) -> str | None:
    tree = module_tree(root)
    path = tree.paths.get(id(module))
    if path is None and id(module) not in tree.strangers:
        strangers = tree.strangers
        tree = module_tree(root, fresh=True)  # a submodule added since the tree was read
        path = tree.paths.get(id(module))
        if path is None:
            tree.strangers.update(strangers, (id(module),))
    return path
