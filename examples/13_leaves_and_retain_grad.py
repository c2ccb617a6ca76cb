"""Leaves and non-leaves: only leaves keep their .grad, unless retain_grad() asks for it.

A leaf is a tensor the user made with requires_grad=True (its grad_fn is None). Every result of an
operation on it is a non-leaf with a grad_fn. backward() fills .grad on leaves only; a non-leaf's
gradient (the v its grad_fn received) is used and then dropped. Run it with ``gradviz trace``: the
non-leaf ``h`` says ".grad: None, not retained" and shows the v it received, the same value that
``retain_grad()`` keeps on ``g``.
"""

import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)  # a leaf: made by the user
g = x * 2  # non-leaves: each has a grad_fn
h = x * 3
g.retain_grad()  # ask autograd to keep g's gradient, which it would otherwise drop
loss = (g * h).sum()

print("x.is_leaf:", x.is_leaf, "| x.grad_fn:", x.grad_fn)
print("g.is_leaf:", g.is_leaf, "| g.grad_fn:", type(g.grad_fn).__name__)

loss.backward()

# d(loss)/dx = d(6 * x**2)/dx = 12x: accumulated into the leaf's .grad.
print("x.grad:", x.grad.tolist())
# g kept its gradient because of retain_grad(): d(loss)/dg = h = 3x.
print("g.grad:", g.grad.tolist())
# h did not: the v its grad_fn received (d(loss)/dh = g = 2x) was used, then dropped.
print("h.grad:", h.grad)
