"""A custom autograd.Function: you write forward and backward yourself.

autograd records one node for the whole Function (named after its class plus "Backward"), and calls your
backward with the incoming gradient v; whatever it returns is the vJ sent on to the inputs.
"""

import torch


class Cube(torch.autograd.Function):
    """y = x**3, with the derivative 3 * x**2 written by hand."""

    @staticmethod
    def forward(ctx, x):
        # Tensors needed in backward must go through save_for_backward (autograd then checks
        # that nobody modified them in place before backward runs).
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x**2


x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = Cube.apply(x)
loss = y.sum()

print("y.grad_fn:", type(y.grad_fn).__name__)
loss.backward()
print("x.grad:", x.grad.tolist())  # 3 * x**2 = [3, 12, 27]

# Check the hand-written backward against autograd's own derivative of x**3.
reference = torch.autograd.grad((x**3).sum(), x)[0]
print("matches autograd:", torch.allclose(x.grad, reference))
