"""Module clusters: a small Transformer encoder, drawn grouped by the nn.Module that made each node.

Run it with `gradviz trace examples/12_transformer_modules.py` and open backward-001.svg: each layer is a
cluster labelled with its path and class (encoder.layers.0 (TransformerEncoderLayer)). With `--depth 2`
each layer is one box with the gradient norm flowing in and out and its parameters' .grad, and the
identical layers fold into one box marked x4.
"""

import torch
from torch import nn

torch.manual_seed(0)


class TinyEncoder(nn.Module):
    def __init__(self, d_model=16, heads=2, layers=4, classes=3):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens):
        return self.head(self.encoder(tokens).mean(dim=1))


model = TinyEncoder()
tokens = torch.randn(2, 5, 16)  # a batch of 2 sequences of 5 token vectors
labels = torch.tensor([0, 2])
loss = nn.functional.cross_entropy(model(tokens), labels)
loss.backward()

print(f"loss {loss.item():.4f}")
print(
    f"layers: {len(model.encoder.layers)}, parameters with a gradient:",
    sum(p.grad is not None for p in model.parameters()),
)
