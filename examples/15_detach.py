"""detach(): the same values, cut from the graph, so no gradient flows back through them.

Two tutorial uses: turning a prediction into plain numbers for plotting or printing, and the GAN
step where the discriminator trains on the generator's output without sending gradients into the
generator. Run it with ``gradviz trace``: the detached branch is drawn behind a "detach" edge and
the generator's weight gets no .grad from the discriminator's loss.
"""

import torch

torch.manual_seed(0)

# Plotting: y_pred.detach() has no grad_fn, so it can be turned into plain numbers safely.
w = torch.tensor([2.0], requires_grad=True)
x = torch.tensor([1.0, 2.0, 3.0])
y_pred = w * x
points = y_pred.detach()  # same data as y_pred, requires_grad=False, no history
print("points:", points.tolist(), "| requires_grad:", points.requires_grad)

# GAN-style: the discriminator's loss sees the generator's output as a constant.
generator = torch.nn.Linear(2, 2)
discriminator = torch.nn.Linear(2, 1)
noise = torch.randn(4, 2)
fake = generator(noise)
d_loss = discriminator(fake.detach()).mean()  # detach: this loss must not train the generator
d_loss.backward()

# The discriminator got gradients; the generator got none, because backward stopped at the detach.
print("discriminator.weight.grad:", [round(v, 4) for v in discriminator.weight.grad.flatten().tolist()])
print("generator.weight.grad:", generator.weight.grad)

# Without detach the same loss would reach the generator.
discriminator(fake).mean().backward()
print("generator.weight.grad without detach is set:", generator.weight.grad is not None)
