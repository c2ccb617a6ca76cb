"""Value formatting and looks shared by every renderer and the TUI."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gradviz.model import Node, Overlay, Value
from gradviz.render.style import (
    LEAF,
    LOOKS,
    OP,
    OVERLAY_LOOKS,
    RETAINS_GRAD,
    ROOT,
    WARNING,
    format_value,
    legend_entries,
    node_look,
    overlay_look,
)

from .conftest import Builders


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "None"),
        (Value((), "float32", 7.5), "7.5"),
        (Value((2,), "float32", (6.0, 48.0)), "[6, 48]"),
        (Value((2, 2), "float32", ((2.0, 0.0), (0.0, 4.0))), "[[2, 0], [0, 4]]"),
        (Value((1,), "float32", (1.2345678e-5,)), "[1.235e-05]"),
        (Value((1,), "bool", (True,)), "[True]"),
        (Value((1,), "float32", (float("nan"),)), "[nan]"),
        (Value((200, 3), "float32", None, 0.0, 1.0, 0.5, 4.25), "shape [200, 3], norm 4.25"),
        (Value((1,), "complex64", (1 - 2j,)), "[1-2j]"),
    ],
)
def test_format_value(value: Value | None, text: str) -> None:
    assert format_value(value) == text


def test_large_small_tensors_fall_back_to_shape_and_norm(build: type[Builders]) -> None:
    value = build.val([float(i) for i in range(20)])

    assert format_value(value, max_values=8) == "shape [20], norm 49.7"
    assert format_value(value, max_values=100).startswith("[0, 1, 2")


def test_node_looks_tell_leaves_roots_and_retained_apart(build: type[Builders]) -> None:
    leaf = Node(0, "AccumulateGrad", tensor=build.tensor("x", (2,), is_leaf=True))
    kept = Node(1, "MulBackward0", tensor=build.tensor("y", (2,), retains_grad=True))

    assert node_look(leaf) is LEAF and node_look(leaf, is_root=True) is LEAF
    assert node_look(kept) is RETAINS_GRAD
    assert node_look(Node(2, "SumBackward0"), is_root=True) is ROOT
    assert node_look(Node(3, "SumBackward0")) is OP
    assert len({look.fill for look in (LEAF, OP, ROOT, RETAINS_GRAD)}) == 4


def test_legend_keeps_its_order_and_only_asked_kinds() -> None:
    assert [look.kind for look in legend_entries({"data_edit", "leaf", "root"})] == [
        "root",
        "leaf",
        "data_edit",
    ]
    assert len({look.kind for look in LOOKS}) == len(LOOKS)


def test_a_warning_overlay_is_drawn_alarming_and_a_note_calm() -> None:
    edit = Overlay(0, "data_edit", "w", "w.data edited", None, 0, 3)
    assert overlay_look(edit) is OVERLAY_LOOKS["data_edit"]
    assert overlay_look(replace(edit, severity="warning")) is WARNING
    assert WARNING.fill == "#fee2e2" and "bold" in WARNING.style
    assert all("bold" not in look.style and look.border != WARNING.border for look in OVERLAY_LOOKS.values())
