"""Bug: the VAE's encoder output is detached before the latent heads, so the reconstruction + KL loss
never reaches fc1: its parameters keep their initial values while the optimizer "trains" the model.
"""
# gradviz-expects: detach

import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    def __init__(self, features=64, hidden=32, latent=4):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.fc21 = nn.Linear(hidden, latent)
        self.fc22 = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, features)

    def encode(self, x):
        h1 = F.relu(self.fc1(x)).detach()
        return self.fc21(h1), self.fc22(h1)

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z)))), mu, logvar


def main():
    torch.manual_seed(1)
    data = (torch.rand(64, 1, 8, 8) > 0.6).float()
    model = VAE()
    initial_fc1 = model.fc1.weight.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, 3):
        train_loss = 0.0
        for start in range(0, 64, 16):
            batch = data[start : start + 16]
            optimizer.zero_grad()
            recon, mu, logvar = model(batch)
            bce = F.binary_cross_entropy(recon, batch.view(-1, 64), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        print(f"epoch {epoch} average loss {train_loss / 64:.4f}")
    print("fc1 trained:", not torch.equal(model.fc1.weight, initial_fc1))
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
