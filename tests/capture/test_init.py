"""nn.init on Parameters: in-place edits of views made under no_grad, recorded without a capture problem."""

from __future__ import annotations

import torch
from torch import nn

from gradviz.capture.session import Tracer


def test_orthogonal_init_of_a_parameter_is_recorded_without_any_finding() -> None:
    # Given: orthogonal_ copies into a view made under no_grad, whose grad_fn autograd refuses to give
    torch.manual_seed(0)
    with Tracer() as tracer:
        conv = nn.Conv2d(3, 4, 3)
        nn.init.orthogonal_(conv.weight, nn.init.calculate_gain("relu"))
        conv(torch.randn(1, 3, 5, 5)).sum().backward()

    # Then: no capture problem, nothing else to say, and the weights are torch's own
    assert tracer.findings == ()
    torch.manual_seed(0)
    plain = nn.Conv2d(3, 4, 3)
    nn.init.orthogonal_(plain.weight, nn.init.calculate_gain("relu"))
    assert torch.equal(plain.weight, conv.weight)
    copies = [e for e in tracer.events if e.op == "Tensor.copy_"]
    assert copies and copies[0].grad_mode == "no_grad" and copies[0].grad_fn is None


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


def test_a_parameter_is_made_at_the_line_that_made_its_data_not_at_model_to() -> None:
    with Tracer() as tracer:
        model = Scale()
        layer = torch.nn.Linear(3, 1)
        model.to("cpu")
        layer.to(torch.float32)
        layer(model(torch.randn(3))).sum().backward()

    leaves = {node.tensor.label: node.location for node in tracer.backwards[0].graph.leaves if node.tensor}
    gain = leaves["model.gain"]
    assert gain is not None and gain.code == "self.gain = nn.Parameter(torch.ones(3))"
    weight = leaves["layer.weight"]
    assert weight is not None and weight.code == "layer = torch.nn.Linear(3, 1)"  # torch module: user line
