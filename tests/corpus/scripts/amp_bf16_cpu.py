"""Mixed precision on CPU: a small CNN classifier whose forward runs under
``torch.autocast("cpu", dtype=torch.bfloat16)``; the logits are cast back and the cross-entropy loss is
computed in float32 outside the autocast region, as CPU AMP recipes do; plain SGD with momentum.
"""

import torch
import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 2 * 2, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    torch.manual_seed(3)
    images = torch.randn(64, 1, 8, 8)
    labels = (images.mean(dim=(1, 2, 3)) > 0).long() + (images[:, 0, 0, 0] > 0).long()
    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        total = 0.0
        for start in range(0, 64, 16):
            x, y = images[start : start + 16], labels[start : start + 16]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} logits {logits.dtype} loss {total / 4:.4f}")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        accuracy = model(images).argmax(1).eq(labels).float().mean().item()
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"accuracy {accuracy:.4f} checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
