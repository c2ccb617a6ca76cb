"""Records remade field by field on the captured call's path keep every other field of the model."""

from __future__ import annotations

import dataclasses
from typing import Any

from gradviz.capture.call import with_leaf_after
from gradviz.capture.timelinelinks import with_location
from gradviz.model import Location, Node, TensorInfo, Value


def _filled(cls: type[Any], **given: Any) -> Any:
    """An instance with every field set to a value of its own (no field left at its default)."""
    values = {field.name: f"{cls.__name__}.{field.name}" for field in dataclasses.fields(cls)}
    return cls(**{**values, **given})


def test_a_leafs_node_after_the_call_changes_only_its_grad_after_and_version() -> None:
    # Given a leaf's node where every field of the node and of its tensor holds a value of its own
    node = _filled(Node, tensor=_filled(TensorInfo))
    after = Value((2,), "float32", (1.0, 2.0))
    # When it is remade with the .grad after the call
    made = with_leaf_after(node, after, 7)
    # Then every other field is carried over, as dataclasses.replace would
    expected = dataclasses.replace(node, tensor=dataclasses.replace(node.tensor, grad_after=after, version=7))
    assert made == expected and type(made) is Node and type(made.tensor) is TensorInfo


def test_a_leafs_line_from_the_timeline_changes_only_its_location() -> None:
    node = _filled(Node)
    line = Location("train.py", 3, "<module>", "w = torch.randn(3)")
    assert with_location(node, line) == dataclasses.replace(node, location=line)
