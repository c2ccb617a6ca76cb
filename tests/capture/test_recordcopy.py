"""Leaf ``.grad`` after a captured call is put into the graph's records as ``dataclasses.replace`` would."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import gradviz
from gradviz.capture.recordcopy import replaced


def test_a_replaced_record_equals_what_dataclasses_replace_makes() -> None:
    # Given: the records of a real graph (nodes, the leaf's tensor info)
    w = torch.randn(3, requires_grad=True)
    graph = gradviz.graph((w * 2).sum())
    leaf = next(node for node in graph.nodes if node.tensor is not None and node.name == "AccumulateGrad")
    assert leaf.tensor is not None

    # When: fields are changed both ways
    ours = replaced(leaf.tensor, version=7, grad_after=None)
    theirs = dataclasses.replace(leaf.tensor, version=7, grad_after=None)

    # Then: equal, frozen, hashed alike, and the original untouched
    assert ours == theirs and hash(ours) == hash(theirs) and type(ours) is type(theirs)
    assert leaf.tensor.version != 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.version = 8  # type: ignore[misc]
    assert replaced(leaf, tensor=ours) == dataclasses.replace(leaf, tensor=theirs)


def test_an_unknown_field_is_refused_as_dataclasses_replace_refuses_it() -> None:
    graph = gradviz.graph((torch.ones(2, requires_grad=True) * 3).sum())
    with pytest.raises(TypeError):
        dataclasses.replace(graph.nodes[0], colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        replaced(graph.nodes[0], colour="red")
