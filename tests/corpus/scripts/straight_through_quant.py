"""Quantization-aware training with a straight-through estimator: a custom ``torch.autograd.Function``
rounds activations to a few levels in forward and passes the gradient through inside the clipping range
(saved with ``ctx.save_for_backward``); a second Function is a clamp whose backward zeroes the gradient
outside [lo, hi]. Both sit inside an MLP trained with Adam for a few steps.
"""

import torch
import torch.nn.functional as F
from torch import nn


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels):
        ctx.save_for_backward(x)
        return torch.round(x.clamp(0, 1) * (levels - 1)) / (levels - 1)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        inside = (x >= 0) & (x <= 1)
        return grad_output * inside.to(grad_output.dtype), None


class ClampGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        mask = (x >= ctx.lo) & (x <= ctx.hi)
        return grad_output.masked_fill(~mask, 0.0), None, None


class QuantMLP(nn.Module):
    def __init__(self, features=10, hidden=24, classes=3, levels=4):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, classes)
        self.levels = levels

    def forward(self, x):
        h = RoundSTE.apply(torch.sigmoid(self.fc1(x)), self.levels)
        h = ClampGrad.apply(self.fc2(h), -2.0, 2.0)
        return self.out(F.relu(h))


def main():
    torch.manual_seed(11)
    x = torch.randn(96, 10)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()
    model = QuantMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(4):
        total = 0.0
        for start in range(0, 96, 32):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[start : start + 32]), y[start : start + 32])
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 3:.4f}")
    print(f"fc1 grad norm {model.fc1.weight.grad.norm().item():.6f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
