"""gradviz's tensor hooks across ``torch.utils.swap_tensors``, so that the user's later hooks still fire.

A tensor keeps its hook dicts (``_backward_hooks``, ``_post_accumulate_grad_hooks``) on the Python object,
wired to the data they were made for, and a swap leaves them there: a hook registered on the tensor after
the swap goes into the old dict and never fires. In a plain run that happens only when the user hooked the
tensor before the swap; when only gradviz had (following a leaf), the dicts are dropped after the swap, and
gradviz hooks the tensor again.
"""

from __future__ import annotations

from typing import Any

from gradviz.capture.door import OWN_HOOK
from gradviz.capture.isolation import in_isolation, isolated

_DICTS = ("_backward_hooks", "_post_accumulate_grad_hooks")


def drop_own_hook_dicts(t1: Any, t2: Any) -> None:
    """After ``swap_tensors(t1, t2)``: drop t1's hook dicts that hold gradviz's hooks alone.

    Args:
        t1: The tensor that now holds t2's data.
        t2: The tensor that now holds t1's old data.
    """
    for name in _DICTS:
        hooks = getattr(t1, name, None)
        if not hooks or not all(getattr(hook, OWN_HOOK, False) for hook in hooks.values()):
            continue
        if getattr(t2, name, None):
            continue  # t2's hooks now act on t1's data, as in a plain run; dropping t1's would clear them
        setattr(t1, name, None)


def hookless(tensor: Any) -> bool:
    """Whether the tensor is a leaf that requires grad and has no hook dict yet (nothing hooked it)."""
    if not in_isolation():  # the attributes are read out of sight of any torch function mode
        with isolated():
            return hookless(tensor)
    try:
        return (
            tensor.requires_grad
            and tensor.grad_fn is None
            and tensor._backward_hooks is None
            and tensor._post_accumulate_grad_hooks is None
        )
    except AttributeError:  # not a tensor
        return False


def drop_empty_hook_dicts(tensor: Any) -> None:
    """Once gradviz removed its hooks from a leaf that had none before: no hook dict, as in a plain run.

    An empty dict left behind stays wired to the tensor's data: after a later swap, a hook the user
    registers goes into it and never fires, where in a plain run it would.
    """
    with isolated():
        for name in _DICTS:
            hooks = getattr(tensor, name, None)
            if hooks is not None and not hooks:
                setattr(tensor, name, None)
