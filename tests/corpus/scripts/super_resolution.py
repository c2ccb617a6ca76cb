"""Sub-pixel super-resolution: convolutions then PixelShuffle, orthogonal_ initialisation, MSE, Adam.

PSNR is measured on held-out images under torch.no_grad() with math.log10 and .item().
"""

import math

import torch
from torch import nn
from torch.nn import init


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 16, 5, 1, 2)
        self.conv2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.conv3 = nn.Conv2d(16, 8, 3, 1, 1)
        self.conv4 = nn.Conv2d(8, upscale_factor**2, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv4.weight)


def main():
    torch.manual_seed(123)
    high = torch.rand(24, 1, 12, 12)
    low = nn.functional.avg_pool2d(high, 3)
    model = Net(upscale_factor=3)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(1, 4):
        epoch_loss = 0.0
        for start in range(0, 16, 4):
            inputs, target = low[start : start + 4], high[start : start + 4]
            optimizer.zero_grad()
            loss = criterion(model(inputs), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
        avg_psnr = 0.0
        with torch.no_grad():
            for start in range(16, 24, 4):
                mse = criterion(model(low[start : start + 4]), high[start : start + 4])
                avg_psnr += 10 * math.log10(1 / mse.item())
        print(f"epoch {epoch} avg loss {epoch_loss / 4:.4f} avg psnr {avg_psnr / 2:.4f} dB")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
