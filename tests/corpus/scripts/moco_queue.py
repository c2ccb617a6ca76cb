"""MoCo (momentum contrast): a query encoder trained with SGD, a key encoder that follows it by momentum
(``param_k.data = param_k.data * m + param_q.data * (1 - m)`` under no_grad, its parameters frozen with
``requires_grad = False``), and a queue of past keys kept in a buffer that the forward itself updates in
place (``self.queue[:, ptr:ptr + n] = keys.T``, ``self.queue_ptr[0] = ...``) before the loss's backward;
the queue enters the logits as ``self.queue.clone().detach()``; InfoNCE as cross-entropy.
"""

import torch
import torch.nn.functional as F
from torch import nn


class MoCo(nn.Module):
    def __init__(self, dim=8, queue_size=32, m=0.9, temperature=0.2):
        super().__init__()
        self.queue_size, self.m, self.temperature = queue_size, m, temperature
        self.encoder_q = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, dim))
        self.encoder_k = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, dim))
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
            param_k.data.copy_(param_q.data)
            param_k.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _momentum_update_key_encoder(self):
        for param_q, param_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters(), strict=True):
            param_k.data = param_k.data * self.m + param_q.data * (1.0 - self.m)

    @torch.no_grad()
    def _dequeue_and_enqueue(self, keys):
        batch_size = keys.shape[0]
        ptr = int(self.queue_ptr)
        self.queue[:, ptr : ptr + batch_size] = keys.T
        self.queue_ptr[0] = (ptr + batch_size) % self.queue_size

    def forward(self, im_q, im_k):
        q = F.normalize(self.encoder_q(im_q), dim=1)
        with torch.no_grad():
            self._momentum_update_key_encoder()
            k = F.normalize(self.encoder_k(im_k), dim=1)
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", [q, self.queue.clone().detach()])
        logits = torch.cat([l_pos, l_neg], dim=1) / self.temperature
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        self._dequeue_and_enqueue(k)
        return logits, labels


def augment(x):
    return x + 0.1 * torch.randn_like(x)


def main():
    torch.manual_seed(41)
    model = MoCo()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    data = torch.randn(64, 6)
    for epoch in range(2):
        total = 0.0
        for start in range(0, 64, 16):
            x = data[start : start + 16]
            logits, labels = model(augment(x), augment(x))
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        print(f"epoch {epoch} loss {total / 4:.4f} queue_ptr {int(model.queue_ptr)}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f} queue {model.queue.sum().item():.6f}")


if __name__ == "__main__":
    main()
