"""Model records made by `record_maker` are the model's own frozen records."""

from __future__ import annotations

import dataclasses

import pytest

from gradviz.capture.records import make_node, make_saved, make_tensor_info, make_value
from gradviz.model import Location, Node, SavedTensor, TensorInfo, Value


def test_made_records_equal_the_dataclass_records_field_for_field() -> None:
    value = Value((2,), "float32", (1.0, 2.0), 1.0, 2.0, 1.5, 2.23)
    info = TensorInfo("w", (2,), "float32", "cpu", True, True, False, None, value, 3, 7)
    saved = SavedTensor("self", value, 4, "x")
    location = Location("train.py", 3, "<module>", "y = x * w")

    made = [
        make_value((2,), "float32", (1.0, 2.0), 1.0, 2.0, 1.5, 2.23),
        make_tensor_info("w", (2,), "float32", "cpu", True, True, False, None, value, 3, 7),
        make_saved("self", value, 4, "x"),
        make_node(1, "MulBackward0", location, info, (saved,), 5, "fc1", None, (("alpha", "2"),)),
        make_node(2, "AccumulateGrad"),  # defaults filled in as the dataclass does
    ]

    expected = [
        value,
        info,
        saved,
        Node(1, "MulBackward0", location, info, (saved,), 5, "fc1"),
        Node(2, "AccumulateGrad"),
    ]
    expected[3] = dataclasses.replace(expected[3], attributes=(("alpha", "2"),))
    for record, reference in zip(made, expected, strict=True):
        assert type(record) is type(reference)
        assert record == reference and hash(record) == hash(reference) and repr(record) == repr(reference)


def test_made_records_are_frozen() -> None:
    node = make_node(0, "SumBackward0")

    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "changed"  # type: ignore[misc]
    assert dataclasses.replace(node, name="MeanBackward0").name == "MeanBackward0"
