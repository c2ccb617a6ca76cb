"""MAML on sine-wave regression: each task is a sine with its own amplitude and phase; the inner loop
adapts a copy of the weights with ``torch.autograd.grad(loss, params, create_graph=True)`` and a plain
SGD step, the adapted weights run through a functional forward (``F.linear`` on a list of tensors), and
the meta-loss on each task's query set is averaged over the batch of tasks and backpropagated through
the inner steps (second-order MAML) into the meta-parameters, updated by Adam.
"""

import torch
import torch.nn.functional as F
from torch import nn

INNER_LR, INNER_STEPS, TASKS, SHOTS = 0.05, 2, 4, 10


class SineNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(1, 24), nn.Linear(24, 24), nn.Linear(24, 1)])

    def forward(self, x, weights=None):
        if weights is None:
            weights = [t for layer in self.layers for t in (layer.weight, layer.bias)]
        for i in range(0, len(weights), 2):
            x = F.linear(x, weights[i], weights[i + 1])
            if i + 2 < len(weights):
                x = F.relu(x)
        return x


def sample_task():
    amplitude = torch.rand(1) * 4.9 + 0.1
    phase = torch.rand(1) * 3.1416

    def draw(n):
        x = torch.rand(n, 1) * 10 - 5
        return x, amplitude * torch.sin(x + phase)

    return draw


def adapt(model, x, y):
    weights = list(model.parameters())
    for _ in range(INNER_STEPS):
        loss = F.mse_loss(model(x, weights), y)
        grads = torch.autograd.grad(loss, weights, create_graph=True)
        weights = [w - INNER_LR * g for w, g in zip(weights, grads, strict=True)]
    return weights


def main():
    torch.manual_seed(11)
    model = SineNet()
    meta_optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for iteration in range(5):
        meta_optimizer.zero_grad()
        meta_loss = 0.0
        for _ in range(TASKS):
            draw = sample_task()
            x_support, y_support = draw(SHOTS)
            x_query, y_query = draw(SHOTS)
            fast_weights = adapt(model, x_support, y_support)
            meta_loss = meta_loss + F.mse_loss(model(x_query, fast_weights), y_query)
        meta_loss = meta_loss / TASKS
        meta_loss.backward()
        meta_optimizer.step()
        print(f"iteration {iteration} meta_loss {meta_loss.item():.4f}")
    draw = sample_task()
    x_support, y_support = draw(SHOTS)
    x_test, y_test = draw(50)
    before = F.mse_loss(model(x_test), y_test).item()
    fast_weights = adapt(model, x_support, y_support)
    with torch.no_grad():
        after = F.mse_loss(model(x_test, fast_weights), y_test).item()
    print(f"test task: loss before adapting {before:.4f} after {after:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
