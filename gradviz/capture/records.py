"""Make frozen model records quickly: a graph of thousands of nodes makes tens of thousands of them.

A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``, several times slower than
a plain attribute store. `record_maker` fills a mutable twin with the same slots, then gives it the frozen
class: Python allows that ``__class__`` change between classes of the same slot layout. What comes out is
an ordinary instance of the model class (equal, hashable, frozen), made in about half the time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from gradviz.model import Node, SavedTensor, TensorInfo, Value

_Record = TypeVar("_Record")


def _field_like(field: dataclasses.Field[Any]) -> Any:
    return dataclasses.field(default=field.default, default_factory=field.default_factory)


def record_maker(cls: type[_Record]) -> Callable[..., _Record]:
    """A function that takes `cls`'s fields (positional or by name, same defaults) and returns a `cls`.

    Args:
        cls: A ``@dataclass(frozen=True, slots=True)`` class of the model.

    Returns:
        The maker.
    """
    fields = [
        (
            field.name,
            field.type,
            dataclasses.field(default=field.default, default_factory=field.default_factory),
        )
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
    ]
    twin: Any = dataclasses.make_dataclass(f"_{cls.__name__}Twin", fields, slots=True, eq=False, repr=False)
    if twin.__slots__ != cls.__slots__:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")

    def make(*args: Any, **kwargs: Any) -> _Record:
        record = twin(*args, **kwargs)
        record.__class__ = cls
        return record  # type: ignore[no-any-return]

    make.__doc__ = f"A frozen `{cls.__name__}`, as ``{cls.__name__}(...)`` makes it."
    return make


make_node = record_maker(Node)
make_saved = record_maker(SavedTensor)
make_value = record_maker(Value)
make_tensor_info = record_maker(TensorInfo)
