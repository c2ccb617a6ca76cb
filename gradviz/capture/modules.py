"""Which ``nn.Module`` call produced each grad_fn, recorded around every module call.

Before a module's forward, autograd's sequence number is noted (every new Node takes the next one);
after it, a walk goes back from the output's grad_fn through the Nodes made during that call (sequence
number at or above the mark) and tags each one not tagged yet with the call. Inner modules finish
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

from gradviz.capture.door import Door, Part
from gradviz.capture.isolation import PROFILER, isolating
from gradviz.capture.moduletree import ModuleTree, path_in
from gradviz.capture.moduletree import module_tree as module_tree  # moduleinfo reads it here
from gradviz.capture.records import twin_of

_KEY = "gradviz.module"
_sequence_nr = torch._C._autograd._get_sequence_nr
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


#: `ModuleCall`'s mutable twin: filled, then given the frozen class (`records.record_maker`, inlined:
#: one per module call, in about half the time of its frozen ``__init__``).
_CallTwin = twin_of(ModuleCall)


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


def module_call_in(metadata: dict[str, Any]) -> ModuleCall | None:
    """`module_call_of`, from the node's ``metadata`` dict already in hand."""
    call = metadata.get(_KEY)
    return call if isinstance(call, ModuleCall) else None


def _grad_fns(value: Any, depth: int = 0) -> list[Any]:
    if isinstance(value, torch.Tensor):
        grad_fn = value.grad_fn
        return [grad_fn] if grad_fn is not None else []
    if depth >= _OUTPUT_DEPTH:
        return []
    if isinstance(value, (tuple, list)):
        return [fn for item in value for fn in _grad_fns(item, depth + 1)]
    if isinstance(value, dict):
        return [fn for item in value.values() for fn in _grad_fns(item, depth + 1)]
    return []


#: A node that was an inner call's only output, and the nodes made before that call right behind it.
Frontiers = dict[int, tuple[Any, list[Any]]]


def tag_new_nodes(
    outputs: Sequence[Any], call: ModuleCall, mark: int, frontiers: Frontiers | None = None
) -> int:
    """Tag the nodes made since sequence number `mark` that lead to `outputs` with `call`.

    Nodes tagged already (by an inner module) keep their tag but are walked through: the nodes the
    outer module made before calling the inner one lie behind them. With `frontiers`, the walk jumps
    from an inner call's only output straight to the older nodes that call's own walk stopped at (all
    nodes between are tagged already), and notes its own frontier there for the call around it.

    Args:
        outputs: The grad_fns to walk back from.
        call: The module call to tag them with.
        mark: Autograd's next sequence number when the call started.
        frontiers: Frontiers of the inner calls finished so far, by their output node's id.

    Returns:
        How many nodes were tagged.
    """
    # AccumulateGrad nodes carry the largest sequence number; nodes made later than now cannot exist.
    end = _sequence_nr()
    seen = set(map(id, outputs))
    pending: list[Any] = []  # nodes made during the call, not walked yet
    older: list[Any] = []  # where this walk stops: nodes made before the call (some twice)
    for fn in outputs:
        (pending if mark <= fn._sequence_nr() < end else older).append(fn)
    single = len(outputs) == 1 and bool(pending)
    tagged = 0
    key, stop, walk, add = _KEY, older.append, pending.append, seen.add
    jumps = frontiers.pop if frontiers else None  # no inner call finished: no jump to look for
    while pending:
        fn = pending.pop()
        metadata = fn.metadata
        if key not in metadata:
            metadata[key] = call
            tagged += 1
        jump = jumps(id(fn), None) if jumps is not None else None
        if jump is not None and jump[0] is fn:  # Node ids are reused: the entry holds its node
            for next_fn in jump[1]:
                if not mark <= next_fn._sequence_nr() < end:
                    stop(next_fn)
                elif id(next_fn) not in seen:
                    add(id(next_fn))
                    walk(next_fn)
            continue
        for next_fn, _ in fn.next_functions:
            if next_fn is None:
                continue
            if not mark <= next_fn._sequence_nr() < end:
                stop(next_fn)
            elif id(next_fn) not in seen:
                add(id(next_fn))
                walk(next_fn)
    if frontiers is not None and single:
        frontiers[id(outputs[0])] = (outputs[0], older)
    return tagged


class ModuleRecorder:
    """Tags grad_fns with the module call that made them, while started.

    It wraps ``nn.Module.__call__`` rather than registering global module forward hooks: with a global
    hook in place, every module call takes torch's slower path through an extra frame, and a warning
    raised in a forward would name another line than in a plain run. The wrapper runs at the user's
    level, outside any torch-function handler, as those hooks do. Only the thread that started it is
    followed: autograd's sequence numbers are per thread.

    Args:
        door: Where a fault goes (it switches module paths off, never the user's forward).
    """

    def __init__(self, door: Door | None = None) -> None:
        self._part = (door or Door()).part("module paths", "later nodes carry no module path")
        self._stack: list[tuple[nn.Module, ModuleCall, int, ModuleTree | None]] = []
        self._original: Any = None
        self._wrapper: Any = None
        self._tagging = False
        self._profiled = False
        self._thread: int | None = None
        self._frontiers: Frontiers = {}

    @property
    def part(self) -> Part:
        """The part of capture a fault here switches off."""
        return self._part

    @property
    def is_started(self) -> bool:
        """Whether ``nn.Module.__call__`` is wrapped."""
        return self._wrapper is not None

    def start(self) -> None:
        """Wrap ``nn.Module.__call__``."""
        if self._wrapper is not None:
            return
        self._thread = threading.get_ident()
        original = self._original = nn.Module.__dict__["__call__"]
        enter, leave = self._enter, self._leave

        # Named `self` as in torch's own: torch.profiler's with_stack=True reads the module from that local.
        def __call__(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
            if not enter(self):
                return original(self, *args, **kwargs)
            try:
                output = original(self, *args, **kwargs)
            except BaseException:
                leave(self, None)
                raise
            leave(self, output)
            return output

        self._wrapper = __call__
        self._tagging = True
        nn.Module.__call__ = __call__  # type: ignore[method-assign]

    def stop(self, *, pausing: bool = False) -> None:
        """Stop tagging and put ``nn.Module.__call__`` back (unless someone wrapped ours since); tags stay.

        Args:
            pausing: Capture is over but the trace goes on. torch's profiler knows module calls by the
                code of the first ``nn.Module.__call__`` it saw, for the rest of the process: a wrapper it
                has seen stays in place, passing calls through, until the trace ends.
        """
        self._tagging = False
        self._stack.clear()
        self._frontiers.clear()
        if pausing and self._profiled:
            return
        if self._wrapper is not None and nn.Module.__dict__.get("__call__") is self._wrapper:
            nn.Module.__call__ = self._original  # type: ignore[method-assign]
        self._wrapper = None

    def _enter(self, module: nn.Module) -> bool:
        if (
            torch.compiler.is_compiling()  # Dynamo traces through calls: nothing of ours there (asked first)
            or not self._tagging  # stopped, but still in a chain of wrappers someone else restored
            or not self._part.is_open
            or threading.get_ident() != self._thread  # after is_compiling(): Dynamo cannot trace it
        ):
            return False
        if not self._profiled:
            self._profiled = PROFILER._is_profiler_enabled
        try:
            self._before(module)  # no torch call: nothing a mode of the user's could see
        except Exception as error:  # a module path is lost; the user's forward runs as it would
            self._part.fault(error)
            return False
        return True

    def _leave(self, module: nn.Module, output: Any) -> None:
        if not self._part.is_open:
            return
        try:
            with isolating():  # reading grad_fn is a torch call no mode of the user's should see
                self._after(module, output)
        except Exception as error:
            self._part.fault(error)

    def _before(self, module: nn.Module) -> None:
        stack = self._stack
        if stack:
            parent_module, parent, mark, tree = stack[-1]
            root = parent.root()
            if tree is None and root is not None:  # the first call below the outermost one
                tree = module_tree(root)
                stack[-1] = (parent_module, parent, mark, tree)
            path = tree.paths.get(id(module)) if tree is not None else None
            if path is None and root is not None:  # a submodule added since the tree was read, or a stranger
                path = path_in(root, module)
                tree = module_tree(root)
            # A module outside the outermost one's tree (kept in a plain list) counts as its caller.
            if path is None:
                call = parent
            else:  # a frozen ModuleCall, made as record_maker makes one
                call = _CallTwin(parent.root, path, type(module).__name__, parent)
                call.__class__ = ModuleCall
        else:
            call = _CallTwin(weakref.ref(module), "", type(module).__name__, None)
            call.__class__ = ModuleCall
            tree = None
        stack.append((module, call, _sequence_nr(), tree))

    def _after(self, module: nn.Module, output: Any) -> None:
        stack = self._stack
        if not stack or (stack[-1][0] is not module and not any(entry[0] is module for entry in stack)):
            return  # its call started before the recorder did
        entry = stack.pop()
        while entry[0] is not module:  # calls that raised inside a forward we wrapped: already left
            entry = stack.pop()
        if output is not None:
            tag_new_nodes(_grad_fns(output), entry[1], entry[2], self._frontiers)
        if not stack:
            self._frontiers.clear()  # the outermost call is done: no walk will jump again
