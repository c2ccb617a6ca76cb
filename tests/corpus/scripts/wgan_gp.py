"""WGAN-GP: a critic trained five steps per generator step, with the gradient penalty
``((||grad_x D(x_hat)||_2 - 1) ** 2).mean()`` on random interpolates between real and fake samples.

Idioms: ``torch.autograd.grad(..., create_graph=True)`` on an input that requires grad, a penalty whose
backward goes through the critic's own backward (double backward), ``fake.detach()`` for the critic
steps, Adam with betas (0.0, 0.9), no BatchNorm in the critic.
"""

import torch
from torch import nn

NZ, DIM, LAMBDA, N_CRITIC = 4, 2, 10.0, 5


def gradient_penalty(critic, real, fake):
    alpha = torch.rand(real.size(0), 1)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(interpolates)
    gradients = torch.autograd.grad(
        outputs=scores,
        inputs=interpolates,
        grad_outputs=torch.ones_like(scores),
        create_graph=True,
        retain_graph=True,
    )[0]
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean() * LAMBDA


def real_batch(n):
    angle = torch.rand(n) * 6.2832
    return torch.stack([angle.cos(), angle.sin()], dim=1) * 2 + 0.05 * torch.randn(n, 2)


def main():
    torch.manual_seed(3)
    generator = nn.Sequential(nn.Linear(NZ, 32), nn.ReLU(), nn.Linear(32, DIM))
    critic = nn.Sequential(nn.Linear(DIM, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.0, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.0, 0.9))
    for iteration in range(6):
        for p in critic.parameters():
            p.requires_grad_(True)
        for _ in range(N_CRITIC):
            real = real_batch(32)
            fake = generator(torch.randn(32, NZ)).detach()
            critic.zero_grad()
            d_real = critic(real).mean()
            d_fake = critic(fake).mean()
            penalty = gradient_penalty(critic, real, fake)
            d_loss = d_fake - d_real + penalty
            d_loss.backward()
            opt_c.step()
        for p in critic.parameters():
            p.requires_grad_(False)  # the generator step needs no gradient for the critic
        generator.zero_grad()
        g_loss = -critic(generator(torch.randn(32, NZ))).mean()
        g_loss.backward()
        opt_g.step()
        wasserstein = (d_real - d_fake).item()
        print(
            f"[{iteration}] d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f} "
            f"w {wasserstein:.4f} gp {penalty.item():.4f}"
        )
    checksum = sum(p.detach().double().sum().item() for p in (*generator.parameters(), *critic.parameters()))
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
