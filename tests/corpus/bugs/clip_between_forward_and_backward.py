"""Bug: WGAN-style weight clipping done between the critic's forward and its backward. The clamp goes
through ``.data``, so autograd does not see it, and backward reads the clipped second-layer weight to
compute the first layer's gradient: the gradient is not the one of the loss that was computed.
"""
# gradviz-expects: data_edit

import torch
from torch import nn


def main():
    torch.manual_seed(4)
    real = torch.randn(64, 6) * 0.5 + 1.0
    critic = nn.Sequential(nn.Linear(6, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    generator = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 6))
    opt_c = torch.optim.RMSprop(critic.parameters(), lr=5e-3)
    opt_g = torch.optim.RMSprop(generator.parameters(), lr=5e-3)
    clip = 0.05
    for step in range(4):
        opt_c.zero_grad()
        fake = generator(torch.randn(16, 3)).detach()
        loss_c = critic(fake).mean() - critic(real[step * 16 : (step + 1) * 16]).mean()
        for p in critic.parameters():
            p.data.clamp_(-clip, clip)
        loss_c.backward()
        opt_c.step()
        opt_g.zero_grad()
        loss_g = -critic(generator(torch.randn(16, 3))).mean()
        loss_g.backward()
        opt_g.step()
        print(f"step {step} loss_c {loss_c.item():.4f} loss_g {loss_g.item():.4f}")
    for name, net in (("critic", critic), ("generator", generator)):
        checksum = sum(p.detach().double().sum().item() for p in net.parameters())
        print(f"checksum_{name} {checksum:.6f}")


if __name__ == "__main__":
    main()
