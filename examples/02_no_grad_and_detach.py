"""What autograd does not record: results computed under no_grad, and detached tensors.

Run it with plain ``python``: the loss and the gradients print as usual. Run it with ``gradviz trace``:
the SVG shows `d` as a dashed ghost hanging off `b` ("no_grad: not recorded, no grad_fn") and `e`
behind a "detach" edge, because neither is part of the graph that backward walks.
"""

import torch

a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = a * 2
c = b.sin()

# Under no_grad, ops run but autograd records nothing: d has no grad_fn and requires_grad=False.
with torch.no_grad():
    d = b * c
print("d.requires_grad:", d.requires_grad, "| d.grad_fn:", d.grad_fn)

# detach() gives a tensor that shares c's data but not its history.
e = c.detach()
print("e.requires_grad:", e.requires_grad, "| shares data with c:", e.data_ptr() == c.data_ptr())

# Using d and e in the loss is allowed, but no gradient flows back through them: they act as constants.
loss = (c * e).sum() + d.sum()
loss.backward()

# Only the path through c counts: d(loss)/da = e * cos(b) * 2, with e held constant.
print("a.grad:", [round(value, 4) for value in a.grad.tolist()])
expected = e * torch.cos(b.detach()) * 2
print("matches e * cos(b) * 2:", torch.allclose(a.grad, expected))
