"""PGD adversarial training, written the way many older repositories do it: the adversarial input is a
leaf that requires grad, stepped with ``x_adv.data = ...`` and projected back into the eps-ball, its
gradient cleared with ``x_adv.grad.data.zero_()`` between attack steps, and the model trained on the
result.
"""

import torch
import torch.nn.functional as F
from torch import nn

EPS, ALPHA, STEPS = 0.3, 0.1, 3


def pgd(model, x, y):
    x_adv = x.clone() + 0.01 * torch.randn_like(x)
    x_adv.requires_grad_(True)
    for _ in range(STEPS):
        loss = F.cross_entropy(model(x_adv), y)
        loss.backward()
        x_adv.data = x_adv.data + ALPHA * x_adv.grad.data.sign()
        x_adv.data = torch.max(torch.min(x_adv.data, x + EPS), x - EPS)
        x_adv.grad.data.zero_()
    return x_adv.detach()


def main():
    torch.manual_seed(4)
    x = torch.randn(96, 10)
    y = (x[:, 0] * x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(3):
        for start in range(0, 64, 16):
            xb, yb = x[start : start + 16], y[start : start + 16]
            model.eval()
            adversarial = pgd(model, xb, yb)
            model.train()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(adversarial), yb)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = model(x[64:]).argmax(1).eq(y[64:]).float().mean().item()
        print(f"epoch {epoch} adv loss {loss.item():.4f} clean acc {accuracy:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
