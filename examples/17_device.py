"""Devices: .to(device) is an op autograd records, so where you call it decides which tensor is the leaf.

`w = torch.randn(3, requires_grad=True).to(device)` makes w a copy with grad_fn ToCopyBackward0: w is
not a leaf, so w.grad stays None, and the leaf that does receive the gradient has no name. Create the
tensor where it will live, or call requires_grad_() after the move. In backward, the gradient crosses
the copy the other way (cuda -> cpu). Without a GPU the same lesson runs with a dtype move (.double()
style: float32 -> float64), which goes through the very same ToCopyBackward0 node.
"""

import torch

torch.manual_seed(0)  # the Linear below starts the same on every run

if torch.cuda.is_available():
    device, dtype = torch.device("cuda"), torch.float32
else:
    device, dtype = torch.device("cpu"), torch.float64  # no GPU: a dtype move stands in for the device move

x = torch.tensor([1.0, 2.0, 3.0]).to(device, dtype)  # data: no requires_grad, so no node is recorded

# The pitfall: the leaf is made on the CPU in float32, then copied; w_copy is that copy.
w_copy = torch.tensor([0.5, -1.0, 2.0], requires_grad=True).to(device, dtype)
loss = (w_copy * x).sum()
loss.backward()
print("w_copy.is_leaf:", w_copy.is_leaf, "grad_fn:", type(w_copy.grad_fn).__name__)
print("w_copy.grad:", w_copy.grad)  # None (torch warns): the gradient went to the unnamed leaf

# The right ways: make the leaf where it lives, or move first and then ask for gradients.
w = torch.tensor([0.5, -1.0, 2.0], device=device, dtype=dtype, requires_grad=True)
v = torch.tensor([0.5, -1.0, 2.0]).to(device, dtype).requires_grad_()
loss = (w * x).sum() + (v * x * x).sum()
loss.backward()
print("w.is_leaf:", w.is_leaf, "w.grad:", w.grad.tolist())  # dloss/dw = x
print("v.is_leaf:", v.is_leaf, "v.grad:", v.grad.tolist())  # dloss/dv = x * x

# A model moves its parameters in place: they stay the same leaves, and their .grad is filled.
model = torch.nn.Linear(3, 1).to(device, dtype)
model(x).sum().backward()
print("model.weight.is_leaf:", model.weight.is_leaf, "grad:", model.weight.grad.tolist())
