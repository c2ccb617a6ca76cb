"""``dataclasses.replace`` for the model's frozen slotted records, without going through ``__init__``.

A captured call puts each leaf's ``.grad`` after the call into its node: two replacements per leaf, a few
hundred per call on a deep model. The copy is made as a mutable twin of the record's class (same slots,
`gradviz.capture.records.twin_of`), then given the frozen class, as `records.record_maker` does. The model
records have no ``__post_init__``, so the result equals what ``dataclasses.replace`` makes.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

from gradviz.capture.records import twin_of

_Record = TypeVar("_Record")
_twins: dict[type, tuple[Any, Callable[[Any], tuple[Any, ...]]]] = {}


def replaced(record: _Record, **changes: Any) -> _Record:
    """A copy of `record` with `changes` (field names to new values), as ``dataclasses.replace`` makes it.

    Args:
        record: An instance of a ``@dataclass(frozen=True, slots=True)`` model class.
        **changes: Fields to change.

    Returns:
        The new record, of the same class.

    Raises:
        TypeError: A change names no field of the record.
    """
    cls = type(record)
    entry = _twins.get(cls)
    if entry is None:
        twin = twin_of(cls)
        slots = twin.__slots__
        # attrgetter of one name gives the value itself, not a 1-tuple
        entry = _twins[cls] = (
            twin,
            attrgetter(*slots) if len(slots) > 1 else lambda r: (getattr(r, slots[0]),),
        )
    twin, values = entry
    copy = twin(*values(record))
    for name, value in changes.items():
        if name not in twin.__slots__:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        setattr(copy, name, value)
    copy.__class__ = cls
    return copy  # type: ignore[no-any-return]
