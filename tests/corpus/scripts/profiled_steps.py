"""A small classifier whose first training steps run under ``torch.profiler.profile`` (CPU activity,
``record_shapes=True``, ``record_function`` labels), as people do to find a slow op: the script then
reads ``key_averages()``, grouped by input shape too, and prints which aten ops ran and how often.
"""

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function


def make_model():
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))


def train_step(model, optimizer, x, y):
    optimizer.zero_grad()
    with record_function("forward"):
        loss = nn.functional.cross_entropy(model(x), y)
    with record_function("backward"):
        loss.backward()
    optimizer.step()
    return loss.item()


def main():
    torch.manual_seed(3)
    x = torch.randn(96, 10)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for start in range(0, 96, 32):
            loss = train_step(model, optimizer, x[start : start + 32], y[start : start + 32])
    print(f"profiled 3 steps, last loss {loss:.4f}")

    events = prof.key_averages()
    counts = {e.key: e.count for e in events}
    print("labels", counts.get("forward"), counts.get("backward"))
    print("addmm", counts.get("aten::addmm"), "mm", counts.get("aten::mm"), "relu", counts.get("aten::relu"))
    forward_ops = sorted(k for k in counts if k.startswith("aten::") and "backward" not in k)
    print("aten ops", len(forward_ops), forward_ops[:8])
    shapes = sorted(
        str(e.input_shapes) for e in prof.key_averages(group_by_input_shape=True) if e.key == "aten::addmm"
    )
    print("addmm shapes", shapes)

    for epoch in range(3):
        total = sum(train_step(model, optimizer, x[s : s + 32], y[s : s + 32]) for s in range(0, 96, 32))
        print(f"epoch {epoch} loss {total / 3:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
