"""Parameters of an nn.Module are leaves, and gradviz names them like state_dict does.

In the drawings the AccumulateGrad node of each parameter is labelled ``model.fc1.weight``,
``model.fc2.bias``, ... so you can tell which layer each gradient lands in.
"""

import torch
from torch import nn


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(inputs)))


torch.manual_seed(0)
model = TwoLayer()
batch = torch.randn(5, 3)

loss = model(batch).pow(2).mean()
loss.backward()

# Every parameter is a leaf that received a gradient of its own shape.
for name, parameter in model.named_parameters():
    print(f"model.{name}: shape {list(parameter.shape)}, grad norm {parameter.grad.norm():.4f}")
