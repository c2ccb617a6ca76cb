"""Siamese network: one shared convolutional tower embeds both images, the two embeddings are concatenated
and classified as same/different with BCELoss after a sigmoid; a StepLR schedule; evaluation under no_grad.
"""

import torch
from torch import nn


class SiameseNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(32, 16), nn.ReLU(inplace=True), nn.Linear(16, 1))
        self.sigmoid = nn.Sigmoid()
        self.fc.apply(self.init_weights)

    def init_weights(self, m):
        if isinstance(m, nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            m.bias.data.fill_(0.01)

    def forward_once(self, x):
        return self.tower(x)

    def forward(self, input1, input2):
        output = torch.cat((self.forward_once(input1), self.forward_once(input2)), 1)
        return self.sigmoid(self.fc(output))


def make_pairs(prototypes, count, generator):
    firsts, seconds, targets = [], [], []
    for i in range(count):
        a = i % len(prototypes)
        same = i % 2 == 0
        b = a if same else (a + 1) % len(prototypes)
        firsts.append(prototypes[a] + 0.3 * torch.randn(prototypes[a].shape, generator=generator))
        seconds.append(prototypes[b] + 0.3 * torch.randn(prototypes[b].shape, generator=generator))
        targets.append(1.0 if same else 0.0)
    return torch.stack(firsts), torch.stack(seconds), torch.tensor(targets).unsqueeze(1)


def main():
    torch.manual_seed(2)
    generator = torch.Generator().manual_seed(3)
    prototypes = torch.randn(4, 1, 8, 8)
    x1, x2, targets = make_pairs(prototypes, 48, generator)
    model = SiameseNetwork()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    criterion = nn.BCELoss()
    for epoch in range(2):
        model.train()
        for start in range(0, 32, 8):
            optimizer.zero_grad()
            outputs = model(x1[start : start + 8], x2[start : start + 8])
            loss = criterion(outputs, targets[start : start + 8])
            loss.backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            outputs = model(x1[32:], x2[32:])
            test_loss = criterion(outputs, targets[32:]).item()
            correct = torch.where(outputs > 0.5, 1, 0).eq(targets[32:]).sum().item()
        print(f"epoch {epoch} train loss {loss.item():.4f} test loss {test_loss:.4f} correct {correct}/16")
    checksum = sum(p.detach().double().sum().item() for p in model.parameters())
    print(f"checksum {checksum:.6f}")


if __name__ == "__main__":
    main()
