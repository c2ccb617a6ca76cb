"""Adversarial training with FGSM, and a saliency map: a small CNN classifier is first trained
normally; then, with the model in ``eval()`` mode, the input batch gets ``requires_grad_()``, the loss
is backpropagated to it, and ``x + eps * x.grad.sign()`` (clamped, under ``torch.no_grad()``) gives the
adversarial batch; the model is then trained on clean and adversarial batches together. A saliency
map is ``x.grad.abs().amax(1)`` for one image.
"""

import torch
import torch.nn.functional as F
from torch import nn

EPS = 0.1


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.dropout = nn.Dropout(0.25)
        self.fc = nn.Linear(16 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(self.dropout(torch.flatten(x, 1)))


def fgsm(model, x, y):
    model.eval()
    x = x.clone().requires_grad_()
    loss = F.cross_entropy(model(x), y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        adversarial = (x + EPS * x.grad.sign()).clamp(0, 1)
    model.train()
    return adversarial, x.grad


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return model(x).argmax(1).eq(y).float().mean().item()


def main():
    torch.manual_seed(7)
    x = torch.rand(96, 1, 16, 16) * 0.5
    y = torch.randint(0, 3, (96,))
    x[y == 1, :, :8] += 0.5
    x[y == 2, :, :, :8] += 0.5
    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(2):
        model.train()
        for start in range(0, 64, 16):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[start : start + 16]), y[start : start + 16])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f} clean acc {accuracy(model, x[64:], y[64:]):.4f}")
    for epoch in range(2):
        for start in range(0, 64, 16):
            xb, yb = x[start : start + 16], y[start : start + 16]
            adversarial, _ = fgsm(model, xb, yb)
            optimizer.zero_grad()
            loss = 0.5 * F.cross_entropy(model(xb), yb) + 0.5 * F.cross_entropy(model(adversarial), yb)
            loss.backward()
            optimizer.step()
        adversarial, _ = fgsm(model, x[64:], y[64:])
        print(f"adv epoch {epoch} loss {loss.item():.4f} adv acc {accuracy(model, adversarial, y[64:]):.4f}")
    _, input_grad = fgsm(model, x[:1], y[:1])
    saliency = input_grad.abs().amax(1)[0]
    print(f"saliency peak at {divmod(saliency.argmax().item(), 16)} max {saliency.max().item():.6f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
