"""MAML on sine-wave regression with torch.func: the inner adaptation step is ``torch.func.grad`` of the
support loss through ``functional_call`` (so the step stays differentiable), the query loss of the adapted
parameters is backpropagated into the meta-parameters with ``loss.backward()``, summed over the tasks of a
meta-batch, and an Adam meta-optimizer steps once per meta-batch.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad


def sample_task(generator):
    amplitude = 0.5 + 4.5 * torch.rand(1, generator=generator)
    phase = 3.14159 * torch.rand(1, generator=generator)
    xs = torch.rand(10, 1, generator=generator) * 10 - 5
    xq = torch.rand(10, 1, generator=generator) * 10 - 5
    return xs, amplitude * torch.sin(xs + phase), xq, amplitude * torch.sin(xq + phase)


def main():
    torch.manual_seed(31)
    generator = torch.Generator().manual_seed(32)
    model = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    meta_optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inner_lr = 0.01

    def loss_of(params, x, y):
        return F.mse_loss(functional_call(model, params, (x,)), y)

    for iteration in range(4):
        meta_optimizer.zero_grad()
        query_total = 0.0
        for _ in range(3):
            xs, ys, xq, yq = sample_task(generator)
            params = dict(model.named_parameters())
            grads = grad(loss_of)(params, xs, ys)
            adapted = {name: p - inner_lr * grads[name] for name, p in params.items()}
            query_loss = loss_of(adapted, xq, yq) / 3
            query_loss.backward()
            query_total += query_loss.item()
        meta_optimizer.step()
        print(f"iteration {iteration} query loss {query_total:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
