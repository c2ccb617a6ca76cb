"""BYOL-style self-supervised learning: an online encoder + projector + predictor, and a target network
(a copy of the online encoder + projector) updated by an exponential moving average written through
``.data`` (``t.data.mul_(tau).add_(o.data, alpha=1 - tau)``), the idiom of many public implementations.
The target's projections are computed under no_grad; the loss is the symmetric normalized MSE; Adam.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn


def mlp(inp, hidden, out):
    return nn.Sequential(nn.Linear(inp, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


def regression_loss(p, z):
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


def augment(x):
    return x * (1 + 0.1 * torch.randn_like(x)) + 0.05 * torch.randn_like(x)


def main():
    torch.manual_seed(13)
    online = nn.Sequential(mlp(8, 32, 16), mlp(16, 32, 8))
    predictor = mlp(8, 32, 8)
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad = False
    data = torch.randn(64, 8)
    optimizer = torch.optim.Adam(list(online.parameters()) + list(predictor.parameters()), lr=3e-3)
    tau = 0.95
    for epoch in range(3):
        total = 0.0
        for start in range(0, 64, 16):
            x = data[start : start + 16]
            v1, v2 = augment(x), augment(x)
            p1, p2 = predictor(online(v1)), predictor(online(v2))
            with torch.no_grad():
                z1, z2 = target(v1), target(v2)
            loss = regression_loss(p1, z2) + regression_loss(p2, z1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for t, o in zip(target.parameters(), online.parameters(), strict=True):
                t.data.mul_(tau).add_(o.data, alpha=1 - tau)
            total += loss.item()
        print(f"epoch {epoch} loss {total / 4:.4f}")
    pairs = zip(target.parameters(), online.parameters(), strict=True)
    gap = sum((t - o).abs().sum().item() for t, o in pairs)
    print(f"target-online gap {gap:.6f}")


if __name__ == "__main__":
    main()
