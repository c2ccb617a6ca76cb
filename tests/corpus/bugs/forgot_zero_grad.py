"""Bug: a classifier trained without ``optimizer.zero_grad()``: every step adds this batch's gradient to
all the previous ones, so each update uses the running sum of all gradients so far.
"""
# gradviz-expects: accumulation

import torch
import torch.nn.functional as F
from torch import nn


def main():
    torch.manual_seed(5)
    x = torch.randn(96, 8)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        model.train()
        for start in range(0, 64, 16):
            output = model(x[start : start + 16])
            loss = F.cross_entropy(output, y[start : start + 16])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = model(x[64:]).argmax(1).eq(y[64:]).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} accuracy {accuracy:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
