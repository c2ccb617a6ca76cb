"""Bag-of-context next-token model whose decoder shares its weight with the embedding (weight tying):
``decoder.weight = encoder.weight``, one Parameter used twice in the graph; SGD with momentum.
"""

import torch
import torch.nn.functional as F
from torch import nn


class TiedModel(nn.Module):
    def __init__(self, vocab=24, dim=12):
        super().__init__()
        self.encoder = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(dim, dim)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.encoder.weight

    def forward(self, context):
        h = self.encoder(context).mean(dim=1)
        return self.decoder(torch.tanh(self.hidden(h)))


def main():
    torch.manual_seed(11)
    tokens = torch.tensor([(i * i + 3 * i) % 24 for i in range(300)])
    contexts = torch.stack([tokens[i : i + 3] for i in range(len(tokens) - 3)])
    targets = tokens[3:]
    model = TiedModel()
    assert model.decoder.weight is model.encoder.weight
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    print("parameters", sum(p.numel() for p in model.parameters()))
    for epoch in range(3):
        for start in range(0, 256, 64):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(contexts[start : start + 64]), targets[start : start + 64])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
