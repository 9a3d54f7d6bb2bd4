"""Run by test_nccl.py on as many ranks as GPUs (at most 2): NCCL collectives on CUDA
tensors, and one DDP step on CUDA equal to the same step on the CPU."""

import numpy as np

import gradflow as gf
import gradflow.distributed as dist
from gradflow import models, nn
from gradflow.distributed.process_group import group
from gradflow.nn.parallel import DistributedDataParallel

dist.init_process_group(backend="nccl")
rank, size = dist.get_rank(), dist.get_world_size()
device = f"cuda:{dist.get_local_rank()}"
t = gf.tensor([1.0, 2.0], device=device) * (rank + 1)
dist.all_reduce(t, dist.ReduceOp.AVG)
assert t.tolist() == [(size + 1) / 2, size + 1.0], t
b = gf.full((3,), float(rank), device=device)
dist.broadcast(b, src=size - 1)
assert b.tolist() == [size - 1.0] * 3
parts = [gf.zeros(2, device=device) for _ in range(size)]
dist.all_gather(parts, gf.ones(2, device=device) * rank)
assert [p.tolist() for p in parts] == [[float(r)] * 2 for r in range(size)]
assert group().nccl(dist.get_local_rank()) is not None, "NCCL was not used"

gf.manual_seed(0)
model = models.cnn(image_size=8, widths=(4, 8), hidden=16).double()
gf.manual_seed(1)
x, y = gf.randn(4 * size, 1, 8, 8, dtype=gf.float64), gf.randint(0, 10, (4 * size,))
nn.CrossEntropyLoss()(model(x), y).backward()
expected = [p.grad.numpy() for p in model.parameters()]
model.zero_grad()
ddp = DistributedDataParallel(model.to(device))
mine = slice(4 * rank, 4 * rank + 4)
nn.CrossEntropyLoss()(ddp(x[mine].to(device)), y[mine].to(device)).backward()
for p, e in zip(ddp.module.parameters(), expected):
    np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-10, atol=1e-12)
dist.barrier()
if rank == 0:
    print(f"NCCL OK on {size} rank(s)", flush=True)
