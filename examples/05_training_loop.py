"""A small training loop: an MLP fitted to noisy points on a sine curve with plain SGD.

Every iteration runs a forward pass, one backward call and an optimizer step. ``gradviz trace`` captures
the first few backward calls in full (``--max-backward``, default 3) and only counts the rest, so a
long loop still runs at close to its normal speed.
"""

import torch
from torch import nn

torch.manual_seed(0)

# Synthetic data: 64 points of y = sin(x) plus a little noise.
inputs = torch.linspace(-3, 3, 64).unsqueeze(1)
targets = torch.sin(inputs) + 0.05 * torch.randn_like(inputs)

model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()

for iteration in range(2000):
    optimizer.zero_grad()  # .grad accumulates otherwise (see 04_accumulation.py)
    loss = loss_fn(model(inputs), targets)
    loss.backward()  # fills .grad of every parameter: model[0].weight, model[0].bias, ...
    optimizer.step()  # updates the parameters in place, outside autograd's graph
    if iteration % 500 == 0:
        print(f"iteration {iteration:4d}: loss {loss.item():.4f}")

print(f"final loss: {loss.item():.4f}")
