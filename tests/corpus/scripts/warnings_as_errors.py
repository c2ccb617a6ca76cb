"""A strict training script: ``warnings.simplefilter("error")`` before training starts, as CI jobs and
careful libraries do, so any warning (a deprecated call, a broadcast in a loss) becomes an exception.
It trains a small regressor with ``nn.MSELoss``, a LR scheduler and gradient clipping, and checks that
the filter is live by catching the one warning it provokes on purpose (``mse_loss`` with mismatched
shapes) as an exception.
"""

import warnings

import torch
from torch import nn


def main():
    warnings.simplefilter("error")
    torch.manual_seed(8)
    x = torch.randn(80, 5)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0], [3.0]]) + 0.05 * torch.randn(80, 1)
    model = nn.Sequential(nn.Linear(5, 16), nn.SiLU(), nn.Linear(16, 1))
    criterion = nn.MSELoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    for epoch in range(3):
        total = 0.0
        for start in range(0, 80, 20):
            optimizer.zero_grad()
            loss = criterion(model(x[start : start + 20]), y[start : start + 20])
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
            scheduler.step()
            total += loss.item()
        lr = scheduler.get_last_lr()[0]
        print(f"epoch {epoch} loss {total / 4:.4f} last grad norm {norm.item():.4f} lr {lr:.5f}")
    try:
        criterion(model(x[:4]), y[:4].squeeze(1))
    except UserWarning as warning:
        print("caught:", str(warning).split(". ")[0])
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
