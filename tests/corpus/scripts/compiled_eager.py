"""A small MLP classifier wrapped in ``torch.compile`` as recent tutorials do, with backends that need
no C compiler: ``backend="aot_eager"`` for the model (TorchDynamo captures the forward, AOTAutograd
traces the joint forward and backward graph), and a custom backend (a function of the FX graph, as the
torch.compile docs show) for the loss, which counts the ops in the graph Dynamo hands it: a graph break
would split it. The loss also reports accuracy from ``logits.detach()``.
"""

import torch
from torch import nn

graphs = []


def counting_backend(gm, example_inputs):
    graphs.append(sum(node.op not in ("placeholder", "output") for node in gm.graph.nodes))
    return gm.forward


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


@torch.compile(backend=counting_backend)
def smoothed_loss(logits, target):
    accuracy = (logits.detach().argmax(dim=1) == target).float().mean()
    return nn.functional.cross_entropy(logits, target, label_smoothing=0.1), accuracy


def main():
    torch.manual_seed(6)
    x = torch.randn(64, 6)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    model = MLP()
    compiled = torch.compile(model, backend="aot_eager")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        total = correct = 0.0
        for start in range(0, 64, 16):
            optimizer.zero_grad()
            loss, accuracy = smoothed_loss(compiled(x[start : start + 16]), y[start : start + 16])
            loss.backward()
            optimizer.step()
            total += loss.item()
            correct += accuracy.item()
        print(f"epoch {epoch} loss {total / 4:.4f} accuracy {correct / 4:.3f}")
    with torch.no_grad():
        gap = (compiled(x) - model(x)).abs().max().item()
    print("compiled matches eager", gap < 1e-5)
    print("loss graph ops", graphs[0])
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
