"""A small GAN whose discriminator layers use ``torch.nn.utils.parametrizations.spectral_norm`` (the
weight is recomputed from ``parametrizations.weight.original`` by power iteration at each forward) and
whose generator's output layer uses ``parametrizations.weight_norm``; hinge loss, the discriminator step
on ``fake.detach()``, two Adams.
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm


def main():
    torch.manual_seed(5)
    disc = nn.Sequential(
        spectral_norm(nn.Linear(4, 32)),
        nn.LeakyReLU(0.2),
        spectral_norm(nn.Linear(32, 32)),
        nn.LeakyReLU(0.2),
        spectral_norm(nn.Linear(32, 1)),
    )
    gen = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), weight_norm(nn.Linear(32, 4)))
    real = torch.randn(64, 4) * 0.5 + torch.tensor([1.0, -1.0, 0.5, 0.0])
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.0, 0.9))
    for step in range(5):
        batch = real[(step % 4) * 16 : (step % 4 + 1) * 16]
        fake = gen(torch.randn(16, 2))
        opt_d.zero_grad()
        loss_d = torch.relu(1 - disc(batch)).mean() + torch.relu(1 + disc(fake.detach())).mean()
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = -disc(fake).mean()
        loss_g.backward()
        opt_g.step()
        print(f"step {step} loss_d {loss_d.item():.4f} loss_g {loss_g.item():.4f}")
    sigma = torch.linalg.matrix_norm(disc[2].weight.detach(), ord=2).item()
    print(f"disc[2] spectral norm {sigma:.4f}")
    for name, net in (("d", disc), ("g", gen)):
        checksum = sum(p.detach().double().sum().item() for p in net.parameters())
        print(f"checksum_{name} {checksum:.6f}")


if __name__ == "__main__":
    main()
