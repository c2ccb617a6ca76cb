"""Bug: fine-tuning (full-batch epochs) that unfreezes the backbone's last block after the first epoch
(``requires_grad_(True)`` and ``optimizer.add_param_group`` with a smaller learning rate), but the
backbone's forward is still wrapped in ``torch.no_grad()``, a speed-up written for the frozen phase. The
block is in the optimizer and requires grad, yet never receives a gradient: the "unfrozen" block never
trains.
"""
# gradviz-expects: no_grad

import torch
import torch.nn.functional as F
from torch import nn


def main():
    torch.manual_seed(23)
    backbone = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    head = nn.Linear(16, 3)
    backbone.requires_grad_(False)
    images = torch.randn(48, 3, 8, 8)
    labels = torch.randint(0, 3, (48,))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    before = backbone[1][0].weight.detach().clone()
    for epoch in range(4):
        if epoch == 1:
            backbone[1].requires_grad_(True)
            optimizer.add_param_group({"params": backbone[1].parameters(), "lr": 1e-3})
        with torch.no_grad():
            features = backbone(images)
        optimizer.zero_grad()
        loss = F.cross_entropy(head(features), labels)
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    print("unfrozen block trained:", not torch.equal(backbone[1][0].weight, before))
    checksum = sum(p.detach().double().sum().item() for p in head.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
