"""Second derivatives: torch.autograd.grad with create_graph=True.

With create_graph=True the backward pass is itself recorded as a graph, so its result (the first
derivative) can be differentiated again.
"""

import torch

x = torch.tensor(2.0, requires_grad=True)
y = x**3  # dy/dx = 3x**2 = 12, d2y/dx2 = 6x = 12

# grad() returns the gradient instead of adding it into x.grad.
(dy_dx,) = torch.autograd.grad(y, x, create_graph=True)
print("dy/dx:", dy_dx.item(), "| has grad_fn:", dy_dx.grad_fn is not None)

# Because the first backward was recorded, dy_dx can go through backward again.
(d2y_dx2,) = torch.autograd.grad(dy_dx, x)
print("d2y/dx2:", d2y_dx2.item())

# x.grad stays None: grad() never accumulates into .grad.
print("x.grad:", x.grad)
