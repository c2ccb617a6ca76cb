"""Scalar backward: loss.backward() needs no argument because the loss has one element.

backward() computes v^T J for some v; for a scalar loss autograd starts from v = 1 = dL/dL, so each
leaf's .grad is dL/dx itself. A non-scalar tensor has no such default and needs an explicit gradient.
Run it with ``gradviz trace``: the root node shows v = 1 = dL/dL.
"""

import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x**2
loss = y.sum()  # one element: a scalar

# Without an argument, backward() starts from torch.ones_like(loss), that is dL/dL = 1.
loss.backward()
print("x.grad:", x.grad.tolist(), "= 2x")

# The same call written out: gradient=1 is what backward() used.
x.grad = None
loss = (x**2).sum()
loss.backward(torch.tensor(1.0))
print("x.grad with gradient=1:", x.grad.tolist())

# A non-scalar has no default v: backward() raises instead of guessing one.
try:
    (x**2).backward()
except RuntimeError as error:
    print("non-scalar backward():", str(error).splitlines()[0])
