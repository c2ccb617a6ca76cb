"""DCGAN: transposed-convolution generator, convolutional discriminator, BatchNorm, BCELoss, two Adams.

The discriminator step sees ``fake.detach()`` so that its loss does not reach the generator.
"""

import torch
from torch import nn

NZ, NGF, NDF = 8, 8, 8


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(NZ, NGF * 2, 4, 1, 0, bias=False),
            nn.BatchNorm2d(NGF * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF * 2, NGF, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NGF),
            nn.ReLU(True),
            nn.ConvTranspose2d(NGF, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, NDF, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(NDF * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(NDF * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def main():
    torch.manual_seed(999)
    real_images = torch.tanh(torch.randn(64, 1, 16, 16))
    net_g, net_d = Generator(), Discriminator()
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(4, NZ, 1, 1)
    real_label, fake_label = 1.0, 0.0
    optimizer_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for i in range(4):
        real = real_images[i * 16 : (i + 1) * 16]
        batch_size = real.size(0)
        # (1) discriminator: maximize log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        label = torch.full((batch_size,), real_label)
        output = net_d(real)
        err_d_real = criterion(output, label)
        err_d_real.backward()
        d_x = output.mean().item()
        noise = torch.randn(batch_size, NZ, 1, 1)
        fake = net_g(noise)
        label.fill_(fake_label)
        output = net_d(fake.detach())
        err_d_fake = criterion(output, label)
        err_d_fake.backward()
        err_d = err_d_real + err_d_fake
        optimizer_d.step()
        # (2) generator: maximize log(D(G(z)))
        net_g.zero_grad()
        label.fill_(real_label)
        output = net_d(fake)
        err_g = criterion(output, label)
        err_g.backward()
        optimizer_g.step()
        print(f"[{i}] loss_d {err_d.item():.4f} loss_g {err_g.item():.4f} d_x {d_x:.4f}")
    with torch.no_grad():
        samples = net_g(fixed_noise).detach()
    print(f"samples {tuple(samples.shape)} mean {samples.mean().item():.4f}")
    for name, net in (("g", net_g), ("d", net_d)):
        checksum = sum(p.detach().double().sum().item() for p in net.parameters())
        print(f"checksum_{name} {checksum:.6f}")


if __name__ == "__main__":
    main()
