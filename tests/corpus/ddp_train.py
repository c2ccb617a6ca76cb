"""DistributedDataParallel over a small MLP on CPU with the gloo backend, as torchrun starts it.

Each rank trains on its own shard of the data (every WORLD_SIZE-th sample, as DistributedSampler
deals them), DDP all-reduces the gradients in backward, so every replica takes the same step. Rank 0
prints the losses and a checksum of the parameters; every rank checks that its replica equals rank 0's.

    torchrun --standalone --nproc_per_node 2 tests/corpus/ddp_train.py
    torchrun --standalone --nproc_per_node 2 -m gradviz trace tests/corpus/ddp_train.py
"""

import gc

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


def main():
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    x = torch.randn(128, 10)
    y = (x[:, :3].sum(dim=1, keepdim=True) > 0).float()
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
    ddp_model = DDP(model)
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=0.1, momentum=0.9)
    shard_x, shard_y = x[rank::world_size], y[rank::world_size]
    for epoch in range(3):
        for start in range(0, len(shard_x), 16):
            optimizer.zero_grad()
            logits = ddp_model(shard_x[start : start + 16])
            loss = F.binary_cross_entropy_with_logits(logits, shard_y[start : start + 16])
            loss.backward()
            optimizer.step()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        if rank == 0:
            print(f"epoch {epoch} loss {mean_loss.item() / world_size:.4f}")
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    same = torch.tensor([int(torch.equal(flat, reference))])
    dist.all_reduce(same)
    if rank == 0:
        print(f"replicas equal: {same.item() == world_size}")
        print(f"checksum {flat.double().sum().item():.6f}")
        norms = [f"{p.grad.norm().item():.5f}" for p in model.parameters()]
        print("last .grad norms", " ".join(norms))
    # DDP's reducer goes before its process group: freed after it, torch 2.13's gloo aborted at times.
    del ddp_model
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
