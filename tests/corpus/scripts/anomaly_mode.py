"""A small autoencoder debugged the way forum answers suggest: the whole training under
``torch.autograd.set_detect_anomaly(True)`` (every backward checks for NaN and keeps forward tracebacks),
with ``torch.autograd.detect_anomaly(check_nan=False)`` as a context manager around a last fine-tuning
step, and ``torch.is_anomaly_enabled()`` printed to show the switch took.
"""

import torch
from torch import nn


def main():
    torch.manual_seed(2)
    torch.autograd.set_detect_anomaly(True)
    print("anomaly enabled", torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled())
    data = torch.randn(40, 12)
    model = nn.Sequential(nn.Linear(12, 4), nn.Softplus(), nn.Linear(4, 12))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(4):
        total = 0.0
        for start in range(0, 40, 10):
            batch = data[start : start + 10]
            optimizer.zero_grad()
            loss = (model(batch) - batch).pow(2).mean()
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 4:.4f}")
    torch.autograd.set_detect_anomaly(False)

    with torch.autograd.detect_anomaly(check_nan=False):
        optimizer.zero_grad()
        loss = (model(data) - data).abs().mean()
        loss.backward()
        optimizer.step()
    print(f"fine-tune loss {loss.item():.4f} anomaly after {torch.is_anomaly_enabled()}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
