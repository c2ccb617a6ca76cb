"""How the ledger names a zeroing or an update: as the user's own line writes it, where it can."""

from __future__ import annotations

import re
from typing import Any

import torch

from gradviz.model import Location

#: In-place ops that zero a ``.grad`` (``mul_`` by 0, ``fill_`` with 0).
ZEROING = frozenset({"zero_", "_foreach_zero_", "fill_", "mul_"})

_ZERO_GRAD_CALL = re.compile(r"([A-Za-z_][\w.]*)\.zero_grad\(")
_STEP_CALL = re.compile(r"([A-Za-z_][\w.]*)\.step\(")


def zero_grad_how(owner: str, where: Location | None) -> str:
    """``opt.zero_grad()`` as the user's line calls it, else ``optimizer.zero_grad()`` (or ``model.``)."""
    found = _ZERO_GRAD_CALL.search(where.code or "") if where is not None else None
    return f"{found.group(1) if found else owner}.zero_grad()"


def step_how(where: Location | None) -> str:
    """``opt.step()`` as the user's line calls it (``scaler.step()`` too), else ``optimizer.step()``."""
    found = _STEP_CALL.search(where.code or "") if where is not None else None
    return f"{found.group(1) if found else 'optimizer'}.step()"


def zero_grad_owner(frame: Any) -> str | None:
    """``optimizer`` or ``model`` when a ``zero_grad()`` method is on the stack just above torch's call."""
    for _ in range(6):
        if frame is None:
            return None
        if frame.f_code.co_name == "zero_grad":
            owner = frame.f_locals.get("self")
            return "optimizer" if isinstance(owner, torch.optim.Optimizer) else "model"
        frame = frame.f_back
    return None


def zeroing_how(name: str, code: str | None, op: str) -> str:
    """``w.grad.data.zero_()`` as the user's line says it, else ``w.grad.zero_()``."""
    text = (code or "").split("#", 1)[0].strip()
    if ".grad" in text and op in text and len(text) <= 40:
        return text
    return f"{name}.grad.{op}()"


def update_how(name: str, code: str | None, op: str) -> str:
    """``w -= ...`` as the user's line says it, else ``w.sub_(...)``."""
    text = (code or "").split("#", 1)[0].strip()
    if text and ("-=" in text or "+=" in text or op.rstrip("_") in text):
        return text if len(text) <= 40 else text[:37] + "..."
    return f"{name}.{op}(...)"
