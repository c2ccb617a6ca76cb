"""A tabular regression model trained from a ``DataLoader`` the usual way: a ``TensorDataset``, a
``random_split`` into train and validation, shuffling with a seeded ``Generator``, ``num_workers=2``
(worker processes forked from the training process; persistent for the training set), ``drop_last``, a
``StepLR`` schedule, and the validation loss computed under ``torch.inference_mode()`` with the model in
``eval()`` mode (the validation loader's iterator, and its workers, are made inside that block).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


def main():
    torch.manual_seed(13)
    features = torch.randn(160, 6)
    true_w = torch.tensor([1.5, -2.0, 0.5, 0.0, 3.0, -1.0])
    targets = (features @ true_w + 0.3 * torch.randn(160)).unsqueeze(1)
    dataset = TensorDataset(features, targets)
    train_set, val_set = random_split(dataset, [128, 32], generator=torch.Generator().manual_seed(0))
    train_loader = DataLoader(
        train_set,
        batch_size=32,
        shuffle=True,
        num_workers=2,
        drop_last=True,
        persistent_workers=True,
        generator=torch.Generator().manual_seed(1),
    )
    val_loader = DataLoader(val_set, batch_size=16, num_workers=2)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for epoch in range(3):
        model.train()
        total = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.size(0)
        scheduler.step()
        model.eval()
        with torch.inference_mode():
            val = 0.0
            for xb, yb in val_loader:
                val += F.mse_loss(model(xb), yb, reduction="sum").item()
            val /= len(val_set)
        print(f"epoch {epoch} train {total / 128:.4f} val {val:.4f} lr {scheduler.get_last_lr()[0]:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
