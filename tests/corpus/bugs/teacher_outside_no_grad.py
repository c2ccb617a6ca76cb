"""Bug: a mean teacher whose forward on the unlabelled batch is not under ``torch.no_grad()`` and whose
output is not detached. The consistency loss then reaches the teacher's parameters: every backward adds
into their ``.grad``, which no optimizer zeroes, while the EMA update (under no_grad) keeps changing them.
The teacher is a copy made with ``copy.deepcopy``, so its parameters still require grad.
"""
# gradviz-expects: accumulation

import copy

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def update_teacher(teacher, student, decay):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(decay).add_(s, alpha=1 - decay)


def main():
    torch.manual_seed(9)
    student = nn.Sequential(nn.Linear(6, 24), nn.Tanh(), nn.Linear(24, 3))
    teacher = copy.deepcopy(student)
    labelled = torch.randn(32, 6)
    labels = (labelled[:, 0] > 0).long() + (labelled[:, 1] > 0.5).long()
    unlabelled = torch.randn(64, 6)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    for epoch in range(3):
        for step in range(2):
            x, y = labelled[step * 16 : (step + 1) * 16], labels[step * 16 : (step + 1) * 16]
            u = unlabelled[step * 32 : (step + 1) * 32]
            optimizer.zero_grad()
            supervised = F.cross_entropy(student(x), y)
            target = F.softmax(teacher(u + 0.1 * torch.randn_like(u)), dim=1)
            consistency = F.mse_loss(F.softmax(student(u), dim=1), target)
            loss = supervised + consistency
            loss.backward()
            optimizer.step()
            update_teacher(teacher, student, decay=0.9)
        print(f"epoch {epoch} supervised {supervised.item():.4f} consistency {consistency.item():.6f}")
    print(f"teacher grad norm {teacher[0].weight.grad.norm().item():.6f}")


if __name__ == "__main__":
    main()
