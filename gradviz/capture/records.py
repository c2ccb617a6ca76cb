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

from gradviz.model import Edge, Location, Node, SavedTensor, TensorInfo, Value

_Record = TypeVar("_Record")


def twin_of(cls: type) -> Any:
    """A mutable dataclass with `cls`'s fields, defaults and slots (`cls`: a frozen slotted dataclass).

    Raises:
        TypeError: `cls` has no slots of its own.
    """
    fields = [
        (
            field.name,
            field.type,
            dataclasses.field(default=field.default, default_factory=field.default_factory),
        )
        for field in dataclasses.fields(cls)
    ]
    twin: Any = dataclasses.make_dataclass(f"_{cls.__name__}Twin", fields, slots=True, eq=False, repr=False)
    if twin.__slots__ != getattr(cls, "__slots__", None):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    return twin


def record_maker(cls: type[_Record]) -> Callable[..., _Record]:
    """A function that takes `cls`'s fields (positional or by name, same defaults) and returns a `cls`.

    Args:
        cls: A ``@dataclass(frozen=True, slots=True)`` class of the model.

    Returns:
        The maker.
    """
    twin = twin_of(cls)

    def make(*args: Any, **kwargs: Any) -> _Record:
        record = twin(*args, **kwargs)
        record.__class__ = cls
        return record  # type: ignore[no-any-return]

    make.__doc__ = f"A frozen `{cls.__name__}`, as ``{cls.__name__}(...)`` makes it."
    return make


_EdgeTwin = twin_of(Edge)


def make_edge(source: int, target: int, slots: tuple[int, ...]) -> Edge:
    """``Edge(source, target, slots)``, made as `record_maker`'s records are (a walk makes one per link)."""
    edge = _EdgeTwin(source, target, slots)
    edge.__class__ = Edge
    return edge  # type: ignore[no-any-return]


_NodeTwin = twin_of(Node)
_SavedTwin = twin_of(SavedTensor)


def make_node(
    id: int,
    name: str,
    location: Location | None = None,
    tensor: TensorInfo | None = None,
    saved: tuple[SavedTensor, ...] = (),
    event: int | None = None,
    module: str | None = None,
    freed_by: int | None = None,
    attributes: tuple[tuple[str, str], ...] = (),
) -> Node:
    """``Node(...)``, made as `record_maker`'s records are (one per node of every graph)."""
    node = _NodeTwin(id, name, location, tensor, saved, event, module, freed_by, attributes)
    node.__class__ = Node
    return node  # type: ignore[no-any-return]


def make_saved(name: str, value: Value, source: int | None = None, label: str | None = None) -> SavedTensor:
    """``SavedTensor(name, value, source, label)``, made as `record_maker`'s records are."""
    saved = _SavedTwin(name, value, source, label)
    saved.__class__ = SavedTensor
    return saved  # type: ignore[no-any-return]


make_value = record_maker(Value)
_InfoTwin = twin_of(TensorInfo)


def make_tensor_info(
    label: str | None,
    shape: tuple[int, ...],
    dtype: str,
    device: str,
    requires_grad: bool = True,
    is_leaf: bool = False,
    retains_grad: bool = False,
    grad_before: Value | None = None,
    grad_after: Value | None = None,
    version: int | None = None,
    id: int | None = None,
) -> TensorInfo:
    """``TensorInfo(...)``, made as `record_maker`'s records are (one per leaf of every graph)."""
    info = _InfoTwin(
        label,
        shape,
        dtype,
        device,
        requires_grad,
        is_leaf,
        retains_grad,
        grad_before,
        grad_after,
        version,
        id,
    )
    info.__class__ = TensorInfo
    return info  # type: ignore[no-any-return]
