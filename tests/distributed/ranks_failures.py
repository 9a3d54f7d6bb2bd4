"""Run on 2 ranks by test_multiprocess.py: rank 1 fails while rank 0 waits in a collective
that rank 1 never joins; the job must end, not hang.

`raise` / `kill`: rank 1 raises or is SIGKILLed while rank 0 is inside all_reduce.
`unused`: under fit, rank 1's forward skips a layer (DistributedDataParallel without
find_unused_parameters): its bucket is never reduced, rank 0 waits for it in backward,
and rank 1 must raise DistributedError naming the layer's parameters instead of entering
fit's next collective.
"""

import os
import signal
import sys
import time

import gradflow as gf
import gradflow.distributed as dist
from gradflow import nn, optim
from gradflow.data import DataLoader, DistributedSampler, TensorDataset
from gradflow.nn.parallel import DistributedDataParallel
from gradflow.train import fit


class SkipsOnRankOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.skipped = nn.Linear(4, 4)
        self.last = nn.Linear(4, 3)

    def forward(self, x):
        h = self.first(x)
        if dist.get_rank() != 1:
            h = self.skipped(h)
        return self.last(h)


def unused_on_one_rank() -> None:
    data = TensorDataset(gf.randn(16, 4, generator=gf.Generator(0)),
                         gf.randint(0, 3, (16,), generator=gf.Generator(1)))
    loader = DataLoader(data, batch_size=4, sampler=DistributedSampler(data))
    model = DistributedDataParallel(SkipsOnRankOne())
    fit(model, loader, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), 2,
        log=None)


dist.init_process_group()
dist.barrier()
if sys.argv[1] == "unused":
    unused_on_one_rank()
    time.sleep(60)
if dist.get_rank() == 1:
    time.sleep(0.5)  # NOTE: rank 0 is inside all_reduce by then
    if sys.argv[1] == "raise":
        raise ValueError("deliberate failure on one rank")
    os.kill(os.getpid(), signal.SIGKILL)
dist.all_reduce(gf.ones(3))
time.sleep(60)
