"""Multi-task learning with a shared trunk and two heads (a classification and a regression task):
each step backpropagates the two task losses separately, the first with ``retain_graph=True`` since
both go through the trunk's graph, so that the trunk's gradient is the sum of both. Then a fine-tuning
phase updates only the regression head with ``loss.backward(inputs=[...])``, leaving the trunk's and
the other head's ``.grad`` untouched (None).
"""

import torch
import torch.nn.functional as F
from torch import nn


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU())
        self.classify = nn.Linear(16, 3)
        self.regress = nn.Linear(16, 1)

    def forward(self, x):
        features = self.trunk(x)
        return self.classify(features), self.regress(features).squeeze(1)


def main():
    torch.manual_seed(23)
    x = torch.randn(128, 10)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    values = x[:, 2] * 2 - x[:, 3]
    model = MultiTask()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        for start in range(0, 96, 32):
            xb = x[start : start + 32]
            optimizer.zero_grad()
            logits, predicted = model(xb)
            class_loss = F.cross_entropy(logits, labels[start : start + 32])
            value_loss = F.mse_loss(predicted, values[start : start + 32])
            class_loss.backward(retain_graph=True)
            (0.5 * value_loss).backward()
            optimizer.step()
        print(f"epoch {epoch} class {class_loss.item():.4f} value {value_loss.item():.4f}")
    head = list(model.regress.parameters())
    head_optimizer = torch.optim.SGD(head, lr=0.05)
    model.zero_grad()
    for step in range(4):
        head_optimizer.zero_grad()
        _, predicted = model(x[96:])
        loss = F.mse_loss(predicted, values[96:])
        loss.backward(inputs=head)
        head_optimizer.step()
        print(f"fine-tune {step} value {loss.item():.4f}")
    untouched = [name for name, p in model.named_parameters() if p.grad is None]
    print(f"no .grad: {', '.join(untouched)}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
