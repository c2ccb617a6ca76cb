""".data edits between forward and backward: harmful when backward reads the edited tensor, else harmless.

``w.data`` is an alias of ``w`` with its own version counter, so an in-place change through it leaves
``w._version`` at 0 and backward cannot notice that a tensor it saved has changed. Plain ``python``
prints the surprising gradient; ``gradviz trace`` says which tensor changed, on which line, which node
had saved it and what the gradient would have been. The same edit after ``2 * x`` changes nothing.
"""

import torch

w = torch.tensor([2.0, 3.0], requires_grad=True)
y = (w * w).sum()  # MulBackward0 saves w to compute d(w*w)/dw = 2w

w.data *= 10  # no version bump: autograd cannot see this
print("w._version after the .data edit:", w._version)

y.backward()
# With the values from the forward pass this would be 2 * [2, 3] = [4, 6].
print("w.grad:", w.grad.tolist(), "(not [4.0, 6.0]: backward used the edited w)")

# Harmless: 2 * x saves only the constant 2 (d(2x)/dx = 2 whatever x is), so the edit reaches no gradient.
x = torch.tensor([1.0, 2.0], requires_grad=True)
z = (2 * x).sum()
x.data *= 100
z.backward()
print("x.grad:", x.grad.tolist(), "(the same as without the edit: MulBackward0 saved only the 2)")
