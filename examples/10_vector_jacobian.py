"""Non-scalar backward: y has two elements, so backward() needs a v, and computes v^T J.

Many tutorials call ``y.backward(v)`` a "Jacobian-vector product"; what autograd computes is the
vector-Jacobian product: x.grad = v @ J, where J = dy/dx is the 2 x 2 Jacobian. Here J is not
diagonal (y[0] depends on both elements of x), so the difference between v @ J and J @ v shows.
Run it with ``gradviz trace`` to see each node's local J, and the whole call's J, v and v @ J.
"""

import torch

x = torch.tensor([2.0, 3.0], requires_grad=True)
y = torch.stack([x[0] * x[1], x[1] ** 2])  # y = [x0 * x1, x1 ** 2]

# y is not a scalar: backward() needs the v to multiply the Jacobian with (one entry per element of y).
v = torch.tensor([1.0, 10.0])
y.backward(v)  # tutorials call this a "Jacobian-vector product"

# J = dy/dx = [[x1, x0], [0, 2 * x1]] = [[3, 2], [0, 6]], written out by hand.
x0, x1 = x.tolist()
J = torch.tensor([[x1, x0], [0.0, 2 * x1]])
print("J:", J.tolist())
print("v @ J:", (v @ J).tolist(), "= x.grad:", x.grad.tolist())
print("J @ v:", (J @ v).tolist(), "(a Jacobian-vector product: not what backward computed)")

# y is not a leaf: its .grad stays None; retain_grad() before backward would have kept v there.
print("y.is_leaf:", y.is_leaf, "| y.grad_fn:", type(y.grad_fn).__name__)
