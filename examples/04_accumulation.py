"""Gradients accumulate: forgetting to zero .grad between backward calls adds them up.

backward() adds into a leaf's .grad instead of replacing it. That is what lets several losses
contribute to one update, and what silently triples a gradient when zero_grad() is forgotten.
"""

import torch

w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
loss = (w * w).sum()  # d(loss)/dw = 2w = [2, 4, 6]

# retain_graph=True keeps the saved tensors, so the same graph can run backward again.
for step in range(1, 4):
    loss.backward(retain_graph=True)
    print(f"after backward {step}: w.grad = {w.grad.tolist()}")

# The fix: clear the gradient before each backward (optimizer.zero_grad() does this for parameters).
w.grad = None
loss.backward()
print("after clearing and one more backward:", w.grad.tolist())
