"""retain_graph: backward frees the saved tensors it used, so a second backward needs retain_graph=True.

To save memory, backward() frees each node's saved tensors once it has used them. A second backward
through the same graph then fails at the first node whose saved tensors are gone. retain_graph=True
keeps them, so the graph can be run again. A graph whose nodes saved nothing (``x + 2``) can be run
backward twice anyway: there is nothing to free. Run it with ``gradviz trace --max-backward all`` (it
makes six backward calls): the freed saved tensors are drawn as freed, the failing node is drawn
failed with the reason, and the ``x + 2`` graph is explained.
"""

import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)

# x * x saves x (d(x*x)/dx = 2x needs it); the first backward frees it.
y = (x * x).sum()
y.backward()
print("x.grad after one backward:", x.grad.tolist())
try:
    y.backward()
except RuntimeError as error:
    print("second backward:", str(error).splitlines()[0])

# retain_graph=True keeps the saved tensors: the second call works, and adds into x.grad.
x.grad = None
y = (x * x).sum()
y.backward(retain_graph=True)
y.backward()
print("x.grad after two backward calls with retain_graph:", x.grad.tolist(), "= 2 * 2x")

# AddBackward0 and SumBackward0 save no tensors, so nothing is freed and backward runs twice.
x.grad = None
z = (x + 2).sum()
z.backward()
z.backward()
print("x.grad after two backward calls through x + 2:", x.grad.tolist())
