"""Linear regression from scratch, tutorial style: tensors with requires_grad=True, loss.backward(), and a
manual update ``w -= lr * w.grad`` under torch.no_grad() followed by ``w.grad.zero_()``.
"""

import torch

torch.manual_seed(0)
x = torch.randn(50, 3)
true_w = torch.tensor([[2.0], [-3.4], [1.5]])
y = x @ true_w + 4.2 + 0.01 * torch.randn(50, 1)

w = torch.randn(3, 1, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
learning_rate = 0.1

for t in range(60):
    y_pred = x.mm(w) + b
    loss = (y_pred - y).pow(2).mean()
    if t % 15 == 14:
        print(t, f"{loss.item():.4f}")
    loss.backward()
    with torch.no_grad():
        w -= learning_rate * w.grad
        b -= learning_rate * b.grad
        w.grad.zero_()
        b.grad.zero_()

print("w", [round(v, 4) for v in w.detach().flatten().tolist()], "b", round(b.item(), 4))
print(f"checksum {w.detach().double().sum().item() + b.item():.6f}")
