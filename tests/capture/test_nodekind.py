"""Each node type's saved tensors are found once per type: the graph lists exactly what the node saved."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import gradviz
from gradviz.capture.graph import walk
from gradviz.capture.saved import read_saved


class _Scale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad * 2


def test_every_node_lists_the_tensors_it_saved_and_no_plain_value() -> None:
    # Given a graph with many kinds of node: conv, batch norm, a list of saved tensors (index_put's
    # indices), pow with a plain exponent, a custom Function
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    conv, norm = nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3)
    parts = [
        norm(conv(x)).relu().sum(),
        (x**2).mean(),
        torch.index_put(x, (torch.tensor([0, 1]),), x[:2] * 3).pow(3).sum(),
        _Scale.apply(x).sum(),
    ]
    loss = torch.stack(parts).sum()

    # When it is snapshotted
    graph = gradviz.graph(loss).graph

    # Then each node's saved tensors are, in order, the ones autograd holds for it, with their shapes
    for node, fn in zip(graph.nodes, walk([loss]).fns, strict=True):
        held = read_saved(fn)
        assert [saved.name for saved in node.saved] == [name for name, _ in held]
        assert [saved.value.shape for saved in node.saved] == [tuple(tensor.shape) for _, tensor in held]
    cube = next(node for node in graph.nodes if node.attributes == (("exponent", "3"),))
    assert [saved.name for saved in cube.saved] == ["self"]  # the exponent is a plain value, not a tensor
    put = next(node for node in graph.nodes if node.name == "IndexPutBackward0")
    assert [saved.name for saved in put.saved] == ["indices[0]"]
    custom = next(node for node in graph.nodes if node.name == "_ScaleBackward")
    assert [saved.name for saved in custom.saved] == ["saved_tensors[0]"]
