"""Matrix-factorisation recommender: user and item embeddings with ``nn.Embedding(sparse=True)`` and
per-user / per-item biases, trained on (user, item, rating) triples with MSE. The embeddings' sparse
gradients go to ``torch.optim.SparseAdam``; the dense rest (a global bias and a small MLP on the
dot-product features) to a plain Adam; both optimizers are zeroed and stepped each batch.
"""

import torch
import torch.nn.functional as F
from torch import nn

USERS, ITEMS, DIM = 40, 30, 8


class Recommender(nn.Module):
    def __init__(self):
        super().__init__()
        self.user = nn.Embedding(USERS, DIM, sparse=True)
        self.item = nn.Embedding(ITEMS, DIM, sparse=True)
        self.user_bias = nn.Embedding(USERS, 1, sparse=True)
        self.item_bias = nn.Embedding(ITEMS, 1, sparse=True)
        self.global_bias = nn.Parameter(torch.tensor([3.0]))
        self.head = nn.Sequential(nn.Linear(DIM, 8), nn.ReLU(), nn.Linear(8, 1))
        nn.init.normal_(self.user.weight, std=0.1)
        nn.init.normal_(self.item.weight, std=0.1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users, items):
        interaction = self.user(users) * self.item(items)
        score = interaction.sum(1, keepdim=True) + self.head(interaction)
        score = score + self.user_bias(users) + self.item_bias(items) + self.global_bias
        return score.squeeze(1)


def main():
    torch.manual_seed(17)
    true_users, true_items = torch.randn(USERS, 3), torch.randn(ITEMS, 3)
    users = torch.randint(0, USERS, (400,))
    items = torch.randint(0, ITEMS, (400,))
    ratings = (3 + (true_users[users] * true_items[items]).sum(1)).clamp(1, 5)
    model = Recommender()
    embeddings = [model.user.weight, model.item.weight, model.user_bias.weight, model.item_bias.weight]
    sparse_ids = {id(p) for p in embeddings}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    sparse_optimizer = torch.optim.SparseAdam(embeddings, lr=0.02)
    dense_optimizer = torch.optim.Adam(dense, lr=0.01)
    for epoch in range(4):
        permutation = torch.randperm(320)
        total = 0.0
        for start in range(0, 320, 64):
            batch = permutation[start : start + 64]
            sparse_optimizer.zero_grad()
            dense_optimizer.zero_grad()
            loss = F.mse_loss(model(users[batch], items[batch]), ratings[batch])
            loss.backward()
            sparse_optimizer.step()
            dense_optimizer.step()
            total += loss.item()
        with torch.no_grad():
            test = F.mse_loss(model(users[320:], items[320:]), ratings[320:]).item()
        print(f"epoch {epoch} train {total / 5:.4f} test {test:.4f}")
    print(f"user.weight.grad is sparse: {model.user.weight.grad.is_sparse}")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
