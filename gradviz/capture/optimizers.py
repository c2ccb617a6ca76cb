"""Which optimizers stepped while tracing, seen through torch's global optimizer step hook."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

#: torch's step post-hook: called after each ``optimizer.step()`` with the optimizer, args and kwargs.
StepCallback = Callable[[torch.optim.Optimizer, Any, Any], None]


def _none() -> None:
    return None


#: Called like a dead weak reference.
NONE: Any = _none


class OptimizerWatch:
    """Registers one global step post-hook while started; keeps the optimizers weakly.

    Args:
        on_step: Called after each step, inside torch's hook (wrap it in the door: it must not raise).
    """

    def __init__(self, on_step: StepCallback | None = None) -> None:
        self._on_step = on_step
        self._seen: weakref.WeakSet[torch.optim.Optimizer] = weakref.WeakSet()
        self._handle: Any = None
        self._last: weakref.ref[Any] = NONE

    def start(self, *, hook: bool = True) -> None:
        """Register the hook; with `hook` False, someone else's post-hook calls `stepped` instead."""
        if hook:
            self._handle = register_optimizer_step_post_hook(self.stepped)

    def stop(self) -> None:
        """Remove the hook; the optimizers seen stay known."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def stepped(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """After an ``optimizer.step()`` (torch's post-hook arguments): note the optimizer, tell `on_step`."""
        self.note(optimizer)
        if self._on_step is not None:
            self._on_step(optimizer, args, kwargs)

    def note(self, optimizer: torch.optim.Optimizer) -> None:
        """Note an optimizer that stepped (`stepped` without telling `on_step`)."""
        if optimizer is not self._last():  # the usual loop steps one optimizer: added once
            self._seen.add(optimizer)
            self._last = weakref.ref(optimizer)

    @property
    def seen(self) -> bool:
        """Whether any optimizer stepped (and is still alive)."""
        return len(self._seen) > 0

    def params(self) -> Iterator[torch.Tensor]:
        """Every parameter of every optimizer that stepped."""
        for optimizer in list(self._seen):
            yield from params_of(optimizer)


def params_of(optimizer: torch.optim.Optimizer) -> Iterator[torch.Tensor]:
    """The tensors in an optimizer's param groups."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            if isinstance(param, torch.Tensor):
                yield param


def param_count(optimizer: torch.optim.Optimizer) -> int:
    """How many tensors an optimizer's param groups hold: it moves when ``add_param_group`` adds some."""
    groups = optimizer.param_groups
    if len(groups) == 1:
        return len(groups[0]["params"])
    return sum(len(group["params"]) for group in groups)
