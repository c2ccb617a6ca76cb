"""Transfer learning with a frozen backbone: a small "pretrained" CNN feature extractor has
``requires_grad_(False)`` and stays in eval() mode (its BatchNorm keeps the pretrained running stats),
and the optimizer holds the new head only. After the first epoch the last backbone block is unfrozen
and added to the optimizer as a second parameter group with a smaller learning rate.
"""

import torch
import torch.nn.functional as F
from torch import nn


def make_backbone():
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


class Finetuner(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.backbone = make_backbone()
        self.head = nn.Linear(16, classes)

    def train(self, mode=True):
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x):
        return self.head(self.backbone(x))


def main():
    torch.manual_seed(21)
    model = Finetuner()
    with torch.no_grad():
        model.backbone(torch.randn(32, 3, 8, 8))
    model.backbone.requires_grad_(False)
    images = torch.randn(48, 3, 8, 8)
    labels = torch.randint(0, 3, (48,))
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(3):
        if epoch == 1:
            model.backbone[1].requires_grad_(True)
            optimizer.add_param_group({"params": model.backbone[1].parameters(), "lr": 0.01})
        model.train()
        total = 0.0
        for start in range(0, 48, 16):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images[start : start + 16]), labels[start : start + 16])
            loss.backward()
            optimizer.step()
            total += loss.item()
        frozen = model.backbone[0][0].weight.grad is None
        print(f"epoch {epoch} loss {total / 3:.4f} first block frozen {frozen}")
    bn = model.backbone[1][1]
    print(f"bn running_mean {bn.running_mean.sum().item():.6f} tracked {bn.num_batches_tracked.item()}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
