"""A .data edit between forward and backward: autograd silently uses the new values.

``w.data`` is an alias of ``w`` with its own version counter, so an in-place change through it leaves
``w._version`` at 0 and backward cannot notice that a tensor it saved has changed. Plain ``python``
prints the surprising gradient; ``gradviz trace`` says which tensor changed, on which line, which
node had saved it, and that the gradient used the new value.
"""

import torch

w = torch.tensor([2.0, 3.0], requires_grad=True)
y = (w * w).sum()  # MulBackward0 saves w to compute d(w*w)/dw = 2w

w.data *= 10  # no version bump: autograd cannot see this
print("w._version after the .data edit:", w._version)

y.backward()
# With the values from the forward pass this would be 2 * [2, 3] = [4, 6].
print("w.grad:", w.grad.tolist(), "(not [4.0, 6.0]: backward used the edited w)")
