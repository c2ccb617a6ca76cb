"""A small ResNet: BasicBlocks with BatchNorm and a projection shortcut, SGD with momentum and weight decay.

Training in train() mode, then an evaluation loop in eval() mode under torch.no_grad().
"""

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(self, num_blocks=(1, 1), num_classes=4):
        super().__init__()
        self.in_planes = 8
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = self._make_layer(8, num_blocks[0], 1)
        self.layer2 = self._make_layer(16, num_blocks[1], 2)
        self.linear = nn.Linear(16, num_classes)

    def _make_layer(self, planes, count, stride):
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def main():
    torch.manual_seed(0)
    images = torch.randn(48, 3, 8, 8)
    labels = torch.randint(0, 4, (48,))
    model = ResNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for epoch in range(2):
        model.train()
        train_loss = 0.0
        for start in range(0, 32, 8):
            inputs, targets = images[start : start + 8], labels[start : start + 8]
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            train_loss += loss.item()
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(32, 48, 8):
                outputs = model(images[start : start + 8])
                correct += outputs.argmax(1).eq(labels[start : start + 8]).sum().item()
        print(f"epoch {epoch} train loss {train_loss / 4:.4f} test correct {correct}/16")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    running = model.bn1.running_mean.double().sum().item()
    print(f"checksum {checksum:.6f} bn1.running_mean {running:.6f}")


if __name__ == "__main__":
    main()
