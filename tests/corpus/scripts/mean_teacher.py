"""Mean teacher for semi-supervised classification: the teacher is a deep copy of the student whose
parameters follow an exponential moving average, updated after each optimizer step under
``torch.no_grad()`` with ``mul_``/``add_``; the teacher's predictions on the unlabelled batch (computed
under no_grad) give the consistency target. The student is trained with SGD.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def update_teacher(teacher, student, decay):
    for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
        t.mul_(decay).add_(s, alpha=1 - decay)
    for t, s in zip(teacher.buffers(), student.buffers(), strict=True):
        t.copy_(s)


def main():
    torch.manual_seed(7)
    student = nn.Sequential(nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    labelled = torch.randn(48, 6)
    labels = (labelled[:, 0] > 0).long() + (labelled[:, 1] > 0.5).long()
    unlabelled = torch.randn(96, 6)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(3):
        for step in range(3):
            x, y = labelled[step * 16 : (step + 1) * 16], labels[step * 16 : (step + 1) * 16]
            u = unlabelled[step * 32 : (step + 1) * 32]
            optimizer.zero_grad()
            supervised = F.cross_entropy(student(x), y)
            with torch.no_grad():
                target = F.softmax(teacher(u + 0.1 * torch.randn_like(u)), dim=1)
            consistency = F.mse_loss(F.softmax(student(u), dim=1), target)
            loss = supervised + 2.0 * consistency
            loss.backward()
            optimizer.step()
            update_teacher(teacher, student, decay=0.9)
        print(f"epoch {epoch} supervised {supervised.item():.4f} consistency {consistency.item():.6f}")
    pairs = zip(teacher.parameters(), student.parameters(), strict=True)
    gap = sum((t - s).abs().sum().item() for t, s in pairs)
    print(f"teacher-student gap {gap:.6f}")


if __name__ == "__main__":
    main()
