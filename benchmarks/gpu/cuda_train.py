"""A CUDA training script as people write them: CNN, BatchNorm, dropout, autocast and GradScaler."""

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
dev = torch.device("cuda")
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    nn.BatchNorm2d(16),
    nn.ReLU(),
    nn.Conv2d(16, 16, 3, padding=1),
    nn.BatchNorm2d(16),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Dropout(0.1),
    nn.Linear(16, 10),
).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
scaler = torch.amp.GradScaler("cuda")
g = torch.Generator(device="cpu").manual_seed(1)
x_all = torch.randn(64, 3, 16, 16, generator=g)
y_all = torch.randint(0, 10, (64,), generator=g)
for step in range(12):
    idx = torch.arange(16) + (step % 4) * 16
    x, y = x_all[idx].to(dev, non_blocking=True), y_all[idx].to(dev)
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()
    print(f"step {step} loss {loss.item():.9g}")
model.eval()
with torch.no_grad():
    acc = (model(x_all.to(dev)).argmax(1).cpu() == y_all).float().mean().item()
print(f"acc {acc:.6f}  w0 {model[0].weight.sum().item():.9g}  rm {model[1].running_mean.sum().item():.9g}")
