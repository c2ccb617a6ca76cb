"""Non-tensor saved values (Pow's exponent) are read as torch holds them, without unpacking a saved tensor."""

from __future__ import annotations

import torch

import gradviz
from gradviz.capture.attributes import saved_attributes


def test_pow_exponent_and_leaky_relu_slope_are_torchs_own() -> None:
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = x**3
    z = torch.nn.functional.leaky_relu(x, 0.2)

    assert saved_attributes(y.grad_fn) == (("exponent", str(y.grad_fn._saved_exponent)),)
    assert ("negative_slope", str(z.grad_fn._saved_negative_slope)) in saved_attributes(z.grad_fn)
    assert saved_attributes(y.grad_fn) == (("exponent", "3"),)


def test_the_graph_carries_them_on_its_nodes() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)

    graph = gradviz.graph((x**2).sum(0)).graph

    by_name = {node.name: node.attributes for node in graph.nodes}
    assert by_name["PowBackward0"] == (("exponent", "2"),)
    assert by_name["SumBackward1"] == (("dim", "(0,)"), ("keepdim", "False"))
    assert by_name["AccumulateGrad"] == ()


def test_reading_them_unpacks_no_saved_tensor() -> None:
    # Given: saved-tensor hooks that count every unpack (checkpointing allows only one per tensor).
    unpacked = []

    def unpack(tensor: torch.Tensor) -> torch.Tensor:
        unpacked.append(tensor.shape)
        return tensor

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(lambda tensor: tensor, unpack):
        y = x**2

    attributes = saved_attributes(y.grad_fn)
    y.sum().backward()

    assert attributes == (("exponent", "2"),)
    assert len(unpacked) == 1  # only backward's own unpack
    assert x.grad.tolist() == [2.0, 4.0]


def test_equal_values_of_other_types_keep_their_own_text() -> None:
    # Given nodes of one type whose saved values are equal as numbers but written differently
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    exponents = [2, 2.0, 0.0, -0.0]

    # When their values are read one after the other (a model repeats a node type many times)
    texts = [saved_attributes((x**exponent).grad_fn) for exponent in exponents]

    # Then each reads as torch holds it
    assert texts == [(("exponent", str(x.pow(e).grad_fn._saved_exponent)),) for e in exponents]
    assert [text[0][1] for text in texts] == ["2", "2.0", "0.0", "-0.0"]
