"""Gradient clipping by hook and activation capture: every parameter gets
``p.register_hook(lambda grad: grad.clamp(-c, c))`` (clipping each gradient element before it is
accumulated), and a forward hook on each conv layer stores its output so the script can print the
feature maps' shapes and mean activation, as visualisation tutorials do. A small CNN, SGD.
"""

import torch
import torch.nn.functional as F
from torch import nn


def main():
    torch.manual_seed(17)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 12, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(12, 2),
    )
    clip_value = 0.05
    for p in model.parameters():
        p.register_hook(lambda grad: torch.clamp(grad, -clip_value, clip_value))
    activations = {}

    def get_activation(name):
        def hook(module, inputs, output):
            activations[name] = output.detach()

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(get_activation(name))
    images = torch.randn(48, 1, 8, 8)
    labels = (images[:, :, :4].mean(dim=(1, 2, 3)) > 0).long()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for epoch in range(3):
        total = 0.0
        for start in range(0, 48, 16):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images[start : start + 16]), labels[start : start + 16])
            loss.backward()
            optimizer.step()
            total += loss.item()
        largest = max(p.grad.abs().max().item() for p in model.parameters())
        print(f"epoch {epoch} loss {total / 3:.4f} largest grad {largest:.4f}")
    for name, fmap in activations.items():
        print(f"feature map {name} {tuple(fmap.shape)} mean {fmap.mean().item():.6f}")


if __name__ == "__main__":
    main()
