"""A deep MLP trained with the older, reentrant activation checkpointing still common in published code:
``checkpoint_sequential(model, segments, x, use_reentrant=True)`` over an ``nn.Sequential``, and a
custom block that calls ``checkpoint(fn, x, use_reentrant=True)`` itself (reentrant checkpointing runs
a nested backward inside the outer one). The input gets ``requires_grad_()``, as the reentrant variant
needs at least one input that requires grad, and a Dropout inside a checkpoint is replayed with the
same RNG state.
"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


class GatedBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.value = nn.Linear(width, width)
        self.gate = nn.Linear(width, width)
        self.drop = nn.Dropout(0.1)

    def inner(self, x):
        return x + self.drop(torch.tanh(self.value(x)) * torch.sigmoid(self.gate(x)))

    def forward(self, x):
        if self.training:
            return checkpoint(self.inner, x, use_reentrant=True)
        return self.inner(x)


def main():
    torch.manual_seed(9)
    x = torch.randn(48, 8)
    y = (x[:, :2].sum(dim=1, keepdim=True) > 0).float()
    layers = [nn.Linear(8, 24), nn.ReLU()]
    for _ in range(2):
        layers += [nn.Linear(24, 24), nn.ReLU()]
    trunk = nn.Sequential(*layers, nn.Linear(24, 16))
    blocks = nn.Sequential(GatedBlock(16), GatedBlock(16))
    head = nn.Linear(16, 1)
    params = [*trunk.parameters(), *blocks.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.2, momentum=0.9)
    for epoch in range(4):
        blocks.train()
        total = 0.0
        for start in range(0, 48, 12):
            batch = x[start : start + 12].clone().requires_grad_()
            optimizer.zero_grad()
            features = checkpoint_sequential(trunk, 2, batch, use_reentrant=True)
            logits = head(blocks(features))
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[start : start + 12])
            loss.backward()
            optimizer.step()
            total += loss.item()
        blocks.eval()
        with torch.no_grad():
            accuracy = ((head(blocks(trunk(x))) > 0).float() == y).float().mean()
        print(f"epoch {epoch} loss {total / 4:.4f} accuracy {accuracy.item():.3f}")
    checksum = sum(p.detach().double().sum().item() for p in params)
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
