"""MNIST-style CNN: two convolutions, dropout, log_softmax + nll_loss, Adadelta with a StepLR schedule.

Fake 28x28 "digits" stand in for MNIST; the evaluation loop runs under model.eval() and torch.no_grad().
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(model, batches, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(batches):
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 2 == 0:
            print(f"epoch {epoch} batch {batch_idx} loss {loss.item():.4f}")


def test(model, batches):
    model.eval()
    test_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for data, target in batches:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            seen += len(data)
    print(f"test loss {test_loss / seen:.4f} accuracy {correct}/{seen}")


def main():
    torch.manual_seed(1)
    images = torch.randn(96, 1, 16, 16)
    labels = (images.mean(dim=(1, 2, 3)) > 0).long() + 2 * (images[:, 0, :8].mean(dim=(1, 2)) > 0).long()
    batches = [(images[i : i + 16], labels[i : i + 16]) for i in range(0, 64, 16)]
    held_out = [(images[64:80], labels[64:80]), (images[80:], labels[80:])]
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, 3):
        train(model, batches, optimizer, epoch)
        test(model, held_out)
        scheduler.step()
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
