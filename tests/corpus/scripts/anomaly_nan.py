"""A log-likelihood model whose backward produces NaN on one bad batch, caught the way debugging code
does: ``with torch.autograd.detect_anomaly():`` around the step, ``except RuntimeError`` printing the
first line of torch's message (it names the backward node that returned NaN), then the batch is skipped and
training goes on. The NaN comes from ``sqrt`` of a value clamped to 0 (its backward divides by 0).
"""

import torch
from torch import nn


def main():
    torch.manual_seed(4)
    x = torch.randn(60, 3)
    target = x.pow(2).sum(dim=1, keepdim=True).sqrt()
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    skipped = 0
    for epoch in range(3):
        total = 0.0
        for start in range(0, 60, 15):
            batch, want = x[start : start + 15], target[start : start + 15]
            if epoch == 1 and start == 15:
                batch = torch.zeros_like(batch)  # a corrupt batch: every sample exactly zero
            optimizer.zero_grad()
            try:
                with torch.autograd.detect_anomaly():
                    radius = (model(batch).clamp(min=0) * batch.abs().sum()).sqrt()
                    loss = (radius - want).pow(2).mean()
                    loss.backward()
            except RuntimeError as error:
                skipped += 1
                print("skipped batch:", str(error).splitlines()[0])
                continue
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 4:.4f}")
    print("skipped", skipped)
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
