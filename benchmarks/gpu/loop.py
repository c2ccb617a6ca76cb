"""A long CUDA loop (past the capture budget), for whole-script time plain against traced."""

import sys
import time

import torch
from torch import nn

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
dev = torch.device("cuda")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
model = model.to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x = torch.randn(128, 256, device=dev)
y = torch.randint(0, 10, (128,), device=dev)
t0 = time.perf_counter()
for step in range(steps):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if step % 1000 == 0:
        print("loss", round(loss.item(), 4))
torch.cuda.synchronize()
print(f"LOOPTIME {time.perf_counter() - t0:.3f}", file=sys.stderr)
