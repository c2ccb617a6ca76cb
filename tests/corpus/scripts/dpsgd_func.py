"""DP-SGD with torch.func: per-sample gradients from ``vmap(grad(loss_of_params))`` over a
``functional_call`` of the model, each sample's gradient clipped to an L2 norm bound, summed, noised
with Gaussian noise and averaged, then a manual SGD update of the parameters under ``torch.no_grad()``.
The per-sample gradient computed this way is checked once against an ordinary ``loss.backward()`` on a
single sample, as the tutorials do.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

MAX_NORM, NOISE, LR, BATCH = 1.0, 0.5, 0.1, 16


def main():
    torch.manual_seed(21)
    x = torch.randn(128, 10)
    y = (x[:, :3].sum(1) > 0).long()
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2))
    params = {name: p.detach() for name, p in model.named_parameters()}

    def sample_loss(p, sample, target):
        logits = functional_call(model, p, (sample.unsqueeze(0),))
        return F.cross_entropy(logits, target.unsqueeze(0))

    per_sample_grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))

    # The first sample's gradient, the usual way, to check the vmap result against.
    model.zero_grad()
    F.cross_entropy(model(x[:1]), y[:1]).backward()
    reference = {name: p.grad.clone() for name, p in model.named_parameters()}
    first = per_sample_grads(params, x[:1], y[:1])
    error = max((first[name][0] - reference[name]).abs().max().item() for name in reference)
    print(f"per-sample gradient matches backward: {error < 1e-6}")

    for epoch in range(3):
        for start in range(0, 96, BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            grads = per_sample_grads(params, xb, yb)
            norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
            scale = (MAX_NORM / (norms + 1e-6)).clamp(max=1.0)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    clipped = (grads[name] * scale.view(-1, *[1] * (grads[name].dim() - 1))).sum(0)
                    noisy = (clipped + NOISE * MAX_NORM * torch.randn_like(clipped)) / BATCH
                    p.sub_(LR * noisy)
        with torch.no_grad():
            logits = model(x[96:])
            loss = F.cross_entropy(logits, y[96:]).item()
            accuracy = logits.argmax(1).eq(y[96:]).float().mean().item()
        clipped = int((norms > MAX_NORM).sum())
        print(f"epoch {epoch} clipped {clipped}/{BATCH} loss {loss:.4f} acc {accuracy:.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
