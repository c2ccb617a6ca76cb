"""What trace.json's two directions share: numbers without a JSON literal, and each record's keys.

NaN and infinities are written as strings; a `BackwardCall`'s record types keep the model's field
names except for `Edge` (``from`` / ``to``), and the most numerous records leave out fields beyond the
contract when they hold their default.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from gradviz.model import Edge, Event, Nested, Node, SavedTensor, Step, TensorInfo

RENAMES: dict[type, dict[str, str]] = {Edge: {"source": "from", "target": "to"}}

#: NaN and infinities have no JSON literal; they are written as these strings so that trace.json stays
#: standard JSON (a browser's JSON.parse reads it) and a NaN gradient survives the round trip.
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

#: Deepest ``values`` nesting read back: far more dimensions than any tensor has, and shallow enough
#: for every renderer to walk.
MAX_NESTING = 64

#: In the records there are most of (one per node, step or forward op), the fields beyond the contract's
#: are written only when they differ from their default; reading fills the default back in.
SPARSE: dict[type, frozenset[str]] = {
    Node: frozenset({"saved", "event", "module", "freed_by", "attributes"}),
    TensorInfo: frozenset({"version", "id"}),
    SavedTensor: frozenset({"source", "label", "forward_value"}),
    Step: frozenset({"jacobians", "unedited"}),
    Edge: frozenset({"slots"}),
    Event: frozenset(
        {"grad_mode", "inputs", "outputs", "grad_fn", "version_before", "version_after", "enabled", "detail"}
    ),
}

#: Marks a field that is always written.
NO_DEFAULT = object()
_KEYS: dict[type, tuple[tuple[str, str, Any], ...]] = {}


def record_keys(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(field, JSON key, the default to leave out or `NO_DEFAULT`) per field of a record type."""
    keys = _KEYS.get(cls)
    if keys is None:
        renames = RENAMES.get(cls, {})
        sparse = SPARSE.get(cls, frozenset())
        keys = tuple(
            (
                f.name,
                renames.get(f.name, f.name),
                f.default if f.name in sparse and f.default is not dataclasses.MISSING else NO_DEFAULT,
            )
            for f in dataclasses.fields(cls)
        )
        _KEYS[cls] = keys
    return keys


def encode_float(number: float | None) -> float | str | None:
    """A float as JSON can hold it: NaN and infinities as strings."""
    if number is None or math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def encode_nested(values: Nested) -> Any:
    """A `Value`'s nested tuples as JSON lists (complex numbers as ``{"re", "im"}``)."""
    if isinstance(values, tuple):
        return [encode_nested(item) for item in values]
    if isinstance(values, complex):
        return {"re": encode_float(values.real), "im": encode_float(values.imag)}
    if isinstance(values, float):
        return encode_float(values)
    return values


def as_float(data: Any) -> float:
    """A JSON number (or one of `NON_FINITE`'s strings) as a float.

    Raises:
        TypeError: For anything else.
    """
    if isinstance(data, str) and data in NON_FINITE:
        return NON_FINITE[data]
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise TypeError(f"expected a number, got {type(data).__name__}")
    return float(data)


def decode_nested(values: Any, depth: int = 0) -> Nested:
    """What `encode_nested` wrote, back as nested tuples.

    Raises:
        ValueError: Nested deeper than `MAX_NESTING`.
        TypeError: Not a number where one belongs.
    """
    if isinstance(values, list):
        if depth >= MAX_NESTING:
            raise ValueError(f"values nested deeper than {MAX_NESTING} levels")
        return tuple(decode_nested(item, depth + 1) for item in values)
    if isinstance(values, dict):
        return complex(as_float(values["re"]), as_float(values["im"]))
    if isinstance(values, (bool, int, float)):
        return values
    if isinstance(values, str) and values in NON_FINITE:
        return NON_FINITE[values]
    raise TypeError(f"not a number: {values!r}")
