"""gradviz inside code on CUDA tensors: recorded values against torch's own."""

import math

import torch

import gradviz

dev = torch.device("cuda")
torch.manual_seed(0)
lin = torch.nn.Linear(4, 3).to(dev)
bn = torch.nn.BatchNorm1d(3).to(dev)
x = torch.randn(8, 4, device=dev)
with gradviz.trace() as tr:
    h = lin(x)
    loss = bn(h).relu().pow(2).mean()
    loss.backward()
params = {"lin.weight": lin.weight, "lin.bias": lin.bias, "bn.weight": bn.weight, "bn.bias": bn.bias}
bad = 0
for node in tr.backwards[0].graph.nodes:
    info = node.tensor
    if node.name != "AccumulateGrad" or info is None or info.grad_after is None:
        continue
    p = params.get(info.label or "")
    if p is None or p.grad is None:
        print("leaf without known label", info.label)
        continue
    same = torch.equal(torch.tensor(info.grad_after.values, dtype=torch.float32), p.grad.cpu())
    bad += not same
    print(f"leaf {info.label} device {info.device} recorded grad == .grad: {same}")
print("recorded-vs-torch mismatches:", bad)
g = gradviz.graph(loss)
print("graph nodes:", len(g.nodes), "devices:", sorted({n.tensor.device for n in g.nodes if n.tensor}))
print(gradviz.explain(lin.weight))
w = torch.randn(3, requires_grad=True).to(dev)
(w * 2).sum().backward()
print(gradviz.explain(w))
big = torch.randn(1 << 20, device=dev, requires_grad=True)
(big * 2).sum().backward()
leaf = next(n for n in gradviz.graph((big * 3).sum()).nodes if n.name == "AccumulateGrad")
assert leaf.tensor is not None and leaf.tensor.grad_after is not None and big.grad is not None
ga = leaf.tensor.grad_after
theirs = (big.grad.min().item(), big.grad.max().item(), big.grad.mean().item(), big.grad.norm().item())
print("big .grad stats", (ga.min, ga.max, ga.mean, ga.norm), "torch:", theirs)
ours = (ga.min, ga.max, ga.mean, ga.norm)
close = [a is not None and math.isclose(a, b, rel_tol=1e-5) for a, b in zip(ours, theirs, strict=True)]
print("stats close:", all(close))
