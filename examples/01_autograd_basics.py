"""The autograd tutorial's first example: a chain of operations and one backward call.

Run it with plain ``python`` to see the gradient, or with ``gradviz trace`` to see how autograd got it:
the graph of grad_fn nodes, and the vector-Jacobian product each node sent back during backward.
"""

import torch

# A leaf tensor: made by the user, with requires_grad=True, so backward() fills in x.grad.
x = torch.ones(2, 2, requires_grad=True)

# Each operation on a tensor that requires grad records a node (its grad_fn) in the graph.
y = x**2  # PowBackward0, which saves x because d(x**2)/dx = 2x needs it
z = 3 * y * y  # two MulBackward0 nodes
out = z.mean()  # MeanBackward0: a scalar, so backward() needs no explicit gradient

print("out:", out.item())
print("out.grad_fn:", type(out.grad_fn).__name__)

# backward() walks the graph from `out` to the leaves, applying the chain rule node by node.
out.backward()

# d(out)/dx = d(mean(3 * x**4))/dx = 12 * x**3 / 4 = 3 * x**3, which is 3 where x is 1.
print("x.grad:", x.grad.tolist())

# y is not a leaf: autograd does not keep its .grad unless y.retain_grad() was called first.
print("y.is_leaf:", y.is_leaf, "| y.grad_fn:", type(y.grad_fn).__name__)
