"""A sequence classifier whose forward uses a TorchScript helper, as older production code does:
``@torch.jit.script`` on a fused activation (``x * sigmoid(1.702 x)``) and on a masked mean over time,
called from an ordinary ``nn.Module``, with a ``torch.jit.script``-ed submodule and a ``torch.jit.trace``-d
output layer; TorchScript's interpreter runs their graphs, and gradients flow through autograd like any
op. The traced layer's graph is printed in part: its value names and source lines come from Python's frames.
"""

import re

import torch
from torch import nn


@torch.jit.script
def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


@torch.jit.script
def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(h.dtype)
    return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class Scale(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


class Classifier(nn.Module):
    def __init__(self, features=6, hidden=16, classes=3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.scale = torch.jit.script(Scale(hidden))
        self.out = torch.jit.trace(nn.Linear(hidden, classes), torch.randn(2, hidden))

    def forward(self, x, mask):
        h = self.scale(quick_gelu(self.inp(x)))
        return self.out(masked_mean(h, mask))


def main():
    torch.manual_seed(10)
    x = torch.randn(32, 7, 6)
    lengths = torch.randint(2, 8, (32,))
    mask = torch.arange(7).unsqueeze(0) < lengths.unsqueeze(1)
    y = (x[:, 0, 0] > 0).long() + (lengths > 4).long()
    model = Classifier()
    print("scripted code", len(model.scale.code) > 0)
    graph = str(model.out.graph).splitlines()[2:5]
    print("traced graph", [re.sub(r"# \S*/", "# ", line.strip()) for line in graph])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(4):
        total = 0.0
        for start in range(0, 32, 8):
            optimizer.zero_grad()
            logits = model(x[start : start + 8], mask[start : start + 8])
            loss = nn.functional.cross_entropy(logits, y[start : start + 8])
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 4:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
