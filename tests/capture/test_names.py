"""The user's names for tensors, found in the calling frames: the rules a drawing's labels follow."""

from __future__ import annotations

import sys

import torch
from torch import nn

from gradviz.capture.names import NameMap, collect_names


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> tuple[NameMap, torch.Tensor]:
        hidden = self.fc1(x)
        return collect_names(sys._getframe(0)), hidden


def test_parameters_take_the_outermost_path_and_variables_the_innermost_name() -> None:
    # Given a module called from this frame, layers kept in a plain list, tensors in a list and a dict
    model = _Block()
    layers = [nn.Linear(2, 1)]
    x = torch.ones(1, 2)
    pair = [x * 2, 3]
    table = {"bias": torch.zeros(2), 4: torch.ones(1)}
    steps = list(range(1_000))  # a long list of plain numbers: searched for modules, holds no tensor

    # When names are collected from inside forward (self.fc1 there, model.fc1 here)
    names, hidden = model(x)

    # Then parameters are named by the caller's module path, not by `self`
    assert names.name_of(model.fc1.weight) == "model.fc1.weight"
    assert names.name_of(layers[0].bias) == "layers[0].bias"
    # and plain variables by the innermost frame that holds them: x is forward's own argument
    assert names.name_of(x) == "x" and names.name_of(hidden) == "hidden"
    assert names.name_of(pair[0]) == "pair[0]"
    assert names.name_of(table["bias"]) == "table['bias']"
    assert names.name_of(table[4]) is None  # only string keys name a tensor
    assert len(steps) == 1_000
