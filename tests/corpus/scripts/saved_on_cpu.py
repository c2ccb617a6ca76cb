"""An MLP regressor trained under the user's own ``saved_tensors_hooks`` pair, which packs each saved
tensor into a small record (half precision for large floats, with its dtype) and unpacks it back, counting
both; then under ``torch.autograd.graph.save_on_cpu()``, as memory-saving code offloads activations (a
plain copy on a CPU-only machine, but the same pack/unpack hooks run).
"""

import torch
from torch import nn
from torch.autograd.graph import save_on_cpu, saved_tensors_hooks


class Packed:
    def __init__(self, tensor):
        self.dtype = tensor.dtype
        self.shrunk = tensor.is_floating_point() and tensor.numel() > 64
        self.data = tensor.detach().half() if self.shrunk else tensor


class PackCounter:
    def __init__(self):
        self.packed = 0
        self.unpacked = 0

    def pack(self, tensor):
        self.packed += 1
        return Packed(tensor)

    def unpack(self, packed):
        self.unpacked += 1
        return packed.data.to(packed.dtype) if packed.shrunk else packed.data


def main():
    torch.manual_seed(11)
    x = torch.randn(64, 6)
    y = torch.sin(x[:, :1]) + x[:, 1:2] * x[:, 2:3]
    model = nn.Sequential(nn.Linear(6, 32), nn.Tanh(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)

    def step(batch, target):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(batch), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    counter = PackCounter()
    for epoch in range(3):
        total = 0.0
        for start in range(0, 64, 16):
            with saved_tensors_hooks(counter.pack, counter.unpack):
                total += step(x[start : start + 16], y[start : start + 16])
        print(f"packed epoch {epoch} loss {total / 4:.4f}")
    print("packed", counter.packed, "unpacked", counter.unpacked)

    for epoch in range(3):
        total = 0.0
        for start in range(0, 64, 16):
            with save_on_cpu(pin_memory=False):
                total += step(x[start : start + 16], y[start : start + 16])
        print(f"save_on_cpu epoch {epoch} loss {total / 4:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
