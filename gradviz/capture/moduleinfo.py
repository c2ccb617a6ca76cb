"""From the module calls tagged on live nodes to `Node.module` paths and `Graph.modules`.

One outermost module gives paths as its ``named_modules()`` does (``""`` for itself). Several unrelated
outermost modules in one graph (an actor and a critic) are told apart by the user's variable name for
each, found through the name of one of its parameters (``actor.0.weight``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from gradviz.capture.modules import ModuleCall, module_call_of, module_tree
from gradviz.capture.names import NameMap
from gradviz.capture.nodekind import NodeKind, kind_of
from gradviz.capture.records import record_maker
from gradviz.model import ModuleInfo

#: Makes a `ModuleInfo` without its frozen ``__init__`` (one per module of every captured graph).
_make_info = record_maker(ModuleInfo)


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


def _root_name(root: nn.Module, names: NameMap) -> str:
    """The user's variable name for an outermost module, from the name found for one of its parameters."""
    for relative, parameter in root.named_parameters():
        full = names.name_of(parameter)
        if full is not None and full.endswith("." + relative):
            return full[: -len(relative) - 1]
        break
    return type(root).__name__


class _Roots:
    """The outermost modules of one graph, with the prefix each one's paths get."""

    def __init__(self, calls: Sequence[ModuleCall], names: NameMap) -> None:
        self.modules: dict[int, nn.Module] = {}
        for call in calls:
            root = call.root()
            if root is not None:
                self.modules.setdefault(id(root), root)
        self.prefix: dict[int, str] = dict.fromkeys(self.modules, "")
        if len(self.modules) > 1:
            taken: set[str] = set()
            for key, root in self.modules.items():
                name = base = _root_name(root, names)
                number = 1
                while name in taken:
                    number += 1
                    name = f"{base}#{number}"
                taken.add(name)
                self.prefix[key] = name

    def path(self, call: ModuleCall) -> str | None:
        root = call.root()
        return _join(self.prefix[id(root)], call.path) if root is not None else None

    def owners(self) -> dict[int, str]:
        """``id(parameter)`` to the full path of the module that owns it (the first root wins)."""
        owner: dict[int, str] = {}
        setdefault = owner.setdefault
        for key, root in self.modules.items():
            prefix = self.prefix[key]
            # What named_parameters() yields, in its order, in one pass over the modules.
            for path, module in root.named_modules():
                parameters = module._parameters
                if parameters:
                    full = _join(prefix, path)
                    for parameter in parameters.values():
                        if parameter is not None:
                            setdefault(id(parameter), full)
        return owner

    def type_of(self, path: str) -> str:
        """The class name at a full path, from the module trees."""
        for key, root in self.modules.items():
            prefix, relative = self.prefix[key], path
            if prefix:
                if path != prefix and not path.startswith(prefix + "."):
                    continue
                relative = path[len(prefix) + 1 :]
            found = module_tree(root).types.get(relative)
            if found is not None:
                return found
        return "Module"


def _parents(path: str, *, relative: bool) -> list[str]:
    """`path` and every module above it, outermost first (``""`` leads when paths are relative)."""
    parts = path.split(".") if path else []
    chain = [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return ["", *chain] if relative else chain


def module_paths(
    fns: Sequence[Any],
    names: NameMap,
    tags: Sequence[ModuleCall | None] | None = None,
    kinds: Sequence[NodeKind] | None = None,
) -> tuple[list[str | None], tuple[ModuleInfo, ...]]:
    """Each node's module path, and the modules of the graph with their class and call count.

    Args:
        fns: The graph's grad_fns, by node id (AccumulateGrad nodes get the module owning the leaf).
        names: The user's names, to tell several outermost modules apart.
        tags: Each node's `module_call_of` (None for AccumulateGrad nodes), when already read.
        kinds: Each node's `NodeKind`, when already found.

    Returns:
        A path (or None) per node, and one `ModuleInfo` per path used and per parent of one, in
        first-seen order.
    """
    if tags is None:
        tags = [None if type(fn).__name__ == "AccumulateGrad" else module_call_of(fn) for fn in fns]
    # ModuleCall compares by identity: the calls themselves are the keys.
    first_seen = dict.fromkeys(tags)
    first_seen.pop(None, None)
    distinct: list[ModuleCall] = list(first_seen)  # type: ignore[arg-type]
    if not distinct:
        return [None] * len(fns), ()
    roots = _Roots(distinct, names)
    owners = roots.owners()
    path_of = {call: roots.path(call) for call in distinct}  # a call's path, once per call
    if kinds is None:
        kinds = [kind_of(fn) for fn in fns]
    paths: list[str | None] = []
    add = paths.append
    for fn, call, kind in zip(fns, tags, kinds, strict=True):
        if call is not None:
            add(path_of[call])
        elif kind.accumulate:
            add(owners.get(id(fn.variable)))
        else:
            add(None)
    calls: dict[str, set[ModuleCall]] = {}
    types: dict[str, str] = {}
    walked: set[ModuleCall] = set()
    for call in distinct:
        link: ModuleCall | None = call
        while link is not None and link not in walked:  # the calls above a walked one are counted
            walked.add(link)
            full = path_of[link] if link in path_of else roots.path(link)
            if full is not None:
                found = calls.get(full)
                if found is None:
                    calls[full] = {link}
                    types[full] = link.type
                else:
                    found.add(link)
            link = link.parent
    relative = len(roots.modules) == 1
    ordered: dict[str, None] = {}
    for path in dict.fromkeys(paths):
        if path is None or path in ordered:
            continue
        parent, dot, _ = path.rpartition(".")
        # Each path went in after all of its parents: one whose parent is in has them all in already.
        if (parent in ordered) if dot else (relative and path and "" in ordered):
            ordered[path] = None
            continue
        for parent in _parents(path, relative=relative):
            ordered.setdefault(parent, None)
    modules = tuple(
        _make_info(path, types.get(path) or roots.type_of(path), len(calls.get(path, ()))) for path in ordered
    )
    return paths, modules
