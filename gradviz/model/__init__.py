"""What gradviz captured, as plain frozen data.

This package is the contract between capture, the renderers, the TUI and trace.json. It imports
neither torch nor textual, so a saved trace can be rendered and explored without either. Its modules go
from small to whole: `values` (locations and tensor summaries), `graph` (nodes, edges, overlays,
modules), `calls` (one backward call: steps, error, ledger) and `trace` (timeline, findings, the trace).

Ids are sequential integers in capture order, never ``id()`` of a torch object: ``id()`` values are
reused and differ from run to run, which makes output unstable.
"""

from gradviz.model.calls import (
    BackwardCall,
    CallError,
    LedgerEntry,
    LedgerKind,
    Step,
)
from gradviz.model.graph import (
    Edge,
    Graph,
    ModuleInfo,
    Node,
    Overlay,
    OverlayKind,
    Root,
)
from gradviz.model.trace import (
    SCHEMA,
    Event,
    EventCount,
    EventKind,
    Finding,
    FindingKind,
    LeafSummary,
    Trace,
)
from gradviz.model.values import (
    Api,
    GradMode,
    Location,
    Nested,
    SavedTensor,
    Severity,
    TensorInfo,
    Value,
)

__all__ = [
    "SCHEMA",
    "Api",
    "BackwardCall",
    "CallError",
    "Edge",
    "Event",
    "EventCount",
    "EventKind",
    "Finding",
    "FindingKind",
    "GradMode",
    "Graph",
    "LeafSummary",
    "LedgerEntry",
    "LedgerKind",
    "Location",
    "ModuleInfo",
    "Nested",
    "Node",
    "Overlay",
    "OverlayKind",
    "Root",
    "SavedTensor",
    "Severity",
    "Step",
    "TensorInfo",
    "Trace",
    "Value",
]
