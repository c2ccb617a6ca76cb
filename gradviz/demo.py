"""The built-in example that ``gradviz demo`` traces: the PyTorch tutorial's chain, and two traps.

The source is kept as text and written next to the outputs as ``demo.py``, so the locations in the
drawings point at lines the user can open, and the user can run it again with ``gradviz trace``.
"""

from __future__ import annotations

from pathlib import Path

from gradviz.output import write_file

FILENAME = "demo.py"

SOURCE = '''\
"""gradviz demo: the autograd tutorial's chain, a no_grad region and a .data edit."""

import torch

# A leaf: created by the user with requires_grad=True, so backward fills x.grad.
x = torch.ones(2, 2, requires_grad=True)
y = x**2  # PowBackward0 saves x to compute dy/dx = 2x
z = 3 * y * y  # MulBackward0 twice
out = z.mean()  # MeanBackward0: the scalar backward starts from

# Under no_grad nothing is recorded: `shifted` has no grad_fn and no path back to x.
with torch.no_grad():
    shifted = y + 1
print("shifted.requires_grad:", shifted.requires_grad)

# Backward call 1: d(out)/dx = d(mean(3 * x**4))/dx = 3 * x**3, which is 3 everywhere.
out.backward()
print("x.grad after the first backward:", x.grad.tolist())

# A second, small graph whose saved tensor is then changed through .data.
w = torch.tensor([2.0, 3.0], requires_grad=True)
loss = (w * w).sum()  # MulBackward0 saves w twice
# .data bypasses the version counter, so backward will silently use the new values.
w.data *= 10
# Backward call 2: the true gradient is 2w = [4, 6]; autograd reports [40, 60].
loss.backward()
print("w.grad after the .data edit:", w.grad.tolist())
'''


def write_demo(folder: Path) -> Path:
    """Write the demo script into a folder.

    Args:
        folder: An existing, writable folder.

    Returns:
        The path of the written ``demo.py``.

    Raises:
        WriteFailed: When it cannot be written (written atomically: never half a file).
    """
    path = Path(folder) / FILENAME
    write_file(path, SOURCE)
    return path
