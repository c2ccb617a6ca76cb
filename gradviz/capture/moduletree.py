"""The module paths under one outermost module (``named_modules()``), cached per root module."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from torch import nn


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


def path_in(root: nn.Module, module: nn.Module) -> str | None:
    """`module`'s path under `root`, reading the tree again once if it is new; None for a stranger."""
    tree = module_tree(root)
    path = tree.paths.get(id(module))
    if path is None and id(module) not in tree.strangers:
        strangers = tree.strangers
        tree = module_tree(root, fresh=True)  # a submodule added since the tree was read
        path = tree.paths.get(id(module))
        if path is None:
            tree.strangers.update(strangers, (id(module),))
    return path
