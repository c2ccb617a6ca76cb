"""An in-place op on a tensor that backward needs: autograd refuses, and the script fails.

``sigmoid`` saves its output to compute its gradient, s * (1 - s). Changing ``s`` in place bumps its
version counter from 0 to 1, and backward raises "modified by an inplace operation". Like plain
``python``, ``gradviz trace`` exits with status 1 and Python's traceback; it also says which tensor,
which in-place op on which line, and which node had saved it.
"""

import torch

x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
s = x.sigmoid()
print("s._version before:", s._version)

s.mul_(2)  # in place: s is now at version 1, but SigmoidBackward0 saved it at version 0
print("s._version after:", s._version)

s.sum().backward()  # raises RuntimeError: one of the variables needed ... modified by an inplace operation
print("never printed")
