"""The classic first training loop: fit y = 3x + 0.8 with one weight and one bias.

Each step: zero the gradients, compute the loss, ``loss.backward()`` fills ``w.grad`` and ``b.grad``,
``optimizer.step()`` moves each parameter by ``-lr * grad``. ``gradviz trace`` writes ``ledger.txt`` and
``ledger.svg``: per step the loss, each ``.grad`` before and after, the zeroing and the update
``w <- w - lr * w.grad`` with the numbers, and ``w``, ``b`` converging to 3 and 0.8.
"""

import torch

torch.manual_seed(0)

x = torch.linspace(-1, 1, 20)
y = 3 * x + 0.8  # the line to learn

w = torch.zeros(1, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
optimizer = torch.optim.SGD([w, b], lr=0.1)

for _ in range(200):
    optimizer.zero_grad()  # backward adds into .grad: start each step from None
    loss = ((w * x + b - y) ** 2).mean()
    loss.backward()  # w.grad = d loss / d w, b.grad = d loss / d b
    optimizer.step()  # w <- w - lr * w.grad, b <- b - lr * b.grad (under no_grad)

print(f"w = {w.item():.3f}, b = {b.item():.3f}, loss = {loss.item():.2e}")
