"""Bug: a text classifier whose embedding lookup lives in a helper decorated with ``@torch.no_grad()``
(copied from the evaluation code). The embedding is in the optimizer, but its .grad stays None: Adam
skips it and it never trains, while the loss still goes down through the rest of the model.
"""
# gradviz-expects: no_grad

import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    def __init__(self, vocab=30, dim=16, classes=3):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab, dim, mode="mean")
        self.fc = nn.Linear(dim, classes)

    @torch.no_grad()
    def embed(self, text, offsets):
        return self.embedding(text, offsets)

    def forward(self, text, offsets):
        return self.fc(self.embed(text, offsets))


def main():
    torch.manual_seed(8)
    lengths = torch.randint(2, 6, (48,))
    text = torch.randint(0, 30, (int(lengths.sum()),))
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
    labels = torch.stack([text[o : o + n].sum() % 3 for o, n in zip(offsets, lengths, strict=True)])
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    before = model.embedding.weight.detach().clone()
    for epoch in range(4):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(text, offsets), labels)
        loss.backward()
        optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    print("embedding trained:", not torch.equal(model.embedding.weight, before))
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
