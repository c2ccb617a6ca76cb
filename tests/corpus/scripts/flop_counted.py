"""A small convolutional classifier whose cost is measured before training, as model-sizing code does:
``torch.utils.flop_counter.FlopCounterMode`` around one forward and backward, the total FLOPs and the
per-module counts read back (``get_total_flops``, ``get_flop_counts``), then a few plain training steps.
"""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(6 * 4 * 4, 24)
        self.fc2 = nn.Linear(24, 4)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def main():
    torch.manual_seed(5)
    images = torch.randn(48, 1, 8, 8)
    labels = (images.mean(dim=(1, 2, 3)) > 0).long() + 2 * (images[:, 0, :4].mean(dim=(1, 2)) > 0).long()
    model = SmallConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    counter = FlopCounterMode(display=False)
    with counter:
        loss = nn.functional.cross_entropy(model(images[:16]), labels[:16])
        loss.backward()
    print("total flops", counter.get_total_flops())
    counts = counter.get_flop_counts()
    for name in sorted(counts):
        print(name, sorted((str(op), n) for op, n in counts[name].items()))
    model.zero_grad()

    for epoch in range(4):
        total = 0.0
        for start in range(0, 48, 16):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(images[start : start + 16]), labels[start : start + 16])
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 3:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
