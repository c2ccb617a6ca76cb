"""gradviz: see what PyTorch's autograd actually does.

Inside code::

    import gradviz

    with gradviz.trace() as t:        # record backward step by step, and the forward timeline
        loss.backward()
    t.save("gradviz-out/debug")       # trace.json and backward-001.svg, as `gradviz trace` writes

    gradviz.graph(loss)               # the graph behind a tensor: prints as a tree, shows as SVG in Jupyter
    print(gradviz.explain(w))         # why w.grad is what it is

From the shell: ``gradviz trace script.py``, ``gradviz demo``, ``gradviz tui trace.json``.

The API is imported on first use, so ``gradviz render`` and ``gradviz tui`` open a saved trace
without importing torch.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradviz.api import GraphSnapshot, Recording, explain, graph, load, trace
    from gradviz.model import BackwardCall, Graph, Trace

try:
    __version__ = version("torch-gradviz")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

_LAZY = {
    "GraphSnapshot": "gradviz.api",
    "Recording": "gradviz.api",
    "explain": "gradviz.api",
    "graph": "gradviz.api",
    "load": "gradviz.api",
    "trace": "gradviz.api",
    "BackwardCall": "gradviz.model",
    "Graph": "gradviz.model",
    "Trace": "gradviz.model",
}

__all__ = [
    "BackwardCall",
    "Graph",
    "GraphSnapshot",
    "Recording",
    "Trace",
    "__version__",
    "explain",
    "graph",
    "load",
    "trace",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gradviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
