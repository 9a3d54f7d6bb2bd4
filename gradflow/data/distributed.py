"""DistributedSampler: each rank's share of a dataset, the same shuffle on every rank."""

from __future__ import annotations

import math

import gradflow as gf
from gradflow.errors import ConfigError


class DistributedSampler:
    """Indices of one rank's part of the dataset, for DataLoader(sampler=...).

    Every rank draws the same permutation (gradflow's counter-based generator seeded with
    seed + epoch, identical on every device) and takes every num_replicas-th index from
    its rank on, so the ranks' parts are disjoint and together cover the dataset. Without
    drop_last the permutation is padded with its own first indices so that every rank gets
    the same number of samples (as PyTorch's).

    Args:
        dataset: anything with a length.
        num_replicas: how many ranks (default: the process group's world size).
        rank: this rank (default: the process group's rank).
        shuffle: shuffle every epoch (call set_epoch(epoch) before each one).
        seed: the shuffle seed; give every rank the same one.
        drop_last: drop the tail instead of padding it.

    Example:
        >>> list(DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False))
        [1, 3, 5, 7, 9]
        >>> dist.init_process_group()
        >>> sampler = DistributedSampler(dataset)         # this rank's share (all of it on 1)
        >>> loader = DataLoader(dataset, batch_size=4, sampler=sampler)
        >>> for epoch in range(2):
        ...     sampler.set_epoch(epoch)                   # a new shuffle, the same on all ranks
        ...     for xb, yb in loader:
        ...         opt.zero_grad()
        ...         F.cross_entropy(model(xb), yb).backward()
        ...         opt.step()
        >>> len(sampler)                                  # 8 of the 16 on each of 2 ranks
        16
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            from gradflow.distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ConfigError(f"DistributedSampler: rank must lie in [0, num_replicas), got rank "
                              f"{rank} of {num_replicas}")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = gf.randperm(n, generator=gf.Generator(self.seed + self.epoch)).tolist()
        else:
            order = list(range(n))
        while len(order) < self.total_size:  # NOTE: padding may wrap more than once
            order += order[:self.total_size - len(order)]
        return iter(order[:self.total_size][self.rank::self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of this epoch (the same on every rank)."""
        self.epoch = epoch
