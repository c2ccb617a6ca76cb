"""A deep residual MLP trained with non-reentrant activation checkpointing:
``torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)`` recomputes each block in backward.
It trains sample by sample (batch size 1, as online-learning tutorials do), then evaluates in batch.
"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class ResidualBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.fc1(self.norm(x))))


class DeepMLP(nn.Module):
    def __init__(self, width=16, depth=4, use_checkpoint=True):
        super().__init__()
        self.inp = nn.Linear(4, width)
        self.blocks = nn.ModuleList(ResidualBlock(width) for _ in range(depth))
        self.out = nn.Linear(width, 1)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        x = self.inp(x)
        for block in self.blocks:
            if self.use_checkpoint and self.training:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.out(x)


def main():
    torch.manual_seed(7)
    x = torch.randn(64, 4)
    y = (x[:, :1] * x[:, 1:2]).tanh() + 0.1 * x[:, 2:3]
    model = DeepMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(5):
        model.train()
        for i in range(step * 8, step * 8 + 8):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x[i : i + 1]), y[i : i + 1])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val = nn.functional.mse_loss(model(x[48:]), y[48:])
        print(f"step {step} loss {loss.item():.4f} val {val.item():.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
