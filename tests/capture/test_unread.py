"""Saved tensors that backward does not read: batch norm's running stats in training mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradviz.capture.session import Tracer
from gradviz.capture.unread import is_read_in_backward


def _grads_after_editing_running_var(training: bool, edit: bool) -> torch.Tensor:
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3).train(training)
    x = torch.randn(8, 3, requires_grad=True)
    y = (bn(x) ** 2).sum()
    if edit:
        bn.running_var.data.mul_(7.0)  # no version bump, as when a second forward updates the stats
    y.backward()
    assert x.grad is not None
    return x.grad


@pytest.mark.parametrize("training", [True, False])
def test_running_stats_are_read_in_backward_exactly_when_torch_uses_them(training: bool) -> None:
    # Given: torch's own answer, by editing the saved running_var between forward and backward
    changes_gradient = not torch.equal(
        _grads_after_editing_running_var(training, edit=False),
        _grads_after_editing_running_var(training, edit=True),
    )
    bn = nn.BatchNorm1d(3).train(training)
    grad_fn = bn(torch.randn(4, 3, requires_grad=True)).grad_fn

    # Then: gradviz's table agrees with torch
    assert is_read_in_backward(grad_fn, "running_var") is changes_gradient
    assert is_read_in_backward(grad_fn, "running_mean") is changes_gradient
    assert is_read_in_backward(grad_fn, "input") is True


class SiameseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean(dim=(2, 3)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (self.embed(a) - self.embed(b)).pow(2).sum(1)


def _train_siamese(steps: int) -> tuple[Tracer, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = SiameseNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with Tracer() as tracer:
        for _ in range(steps):
            a, b = torch.randn(4, 1, 6, 6), torch.randn(4, 1, 6, 6)
            opt.zero_grad()
            loss = model(a, b).mean()  # each BatchNorm runs twice: the second forward updates its stats
            loss.backward()
            opt.step()
    return tracer, {name: p.detach().clone() for name, p in model.named_parameters()}


def test_a_batchnorm_training_loop_is_silent_and_trains_as_without_gradviz() -> None:
    tracer, traced = _train_siamese(steps=4)

    # Then: no warning at all; the weights equal those of the same run without gradviz
    assert [f for f in tracer.findings if f.severity == "warning"] == []
    torch.manual_seed(0)
    model = SiameseNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(4):
        a, b = torch.randn(4, 1, 6, 6), torch.randn(4, 1, 6, 6)
        opt.zero_grad()
        model(a, b).mean().backward()
        opt.step()
    for name, param in model.named_parameters():
        assert torch.equal(param, traced[name]), name


def test_an_edit_of_running_var_that_eval_mode_backward_reads_is_a_named_warning() -> None:
    torch.manual_seed(0)
    model = SiameseNet().eval()
    with Tracer() as tracer:
        loss = model(torch.randn(2, 1, 6, 6), torch.randn(2, 1, 6, 6)).sum()
        model.bn2.running_var.data *= 4
        loss.backward()

    (finding,) = [f for f in tracer.findings if f.kind == "data_edit"]
    assert finding.severity == "warning"
    assert finding.label == "model.bn2.running_var"
    assert finding.location is not None and finding.location.code == "model.bn2.running_var.data *= 4"
