"""What fit does differently on several ranks (DistributedDataParallel): the epoch's sums
added over the ranks in one all-reduce, and a stop (Ctrl-C, a callback) agreed by every rank
after the same step."""

from __future__ import annotations

import gradflow as gf
from gradflow.distributed import is_main_process
from gradflow.train.callbacks import TrainState
from gradflow.train.evaluation import _Sums
from gradflow.train.interrupt import InterruptGuard


def _data_parallel(model) -> bool:
    """Whether `model` is a DistributedDataParallel replica in a world of several ranks."""
    from gradflow.nn.parallel import DistributedDataParallel

    return isinstance(model, DistributedDataParallel) and model.world_size > 1


def _sharded(loader) -> bool:
    from gradflow.data import DistributedSampler

    return isinstance(getattr(loader, "sampler", None), DistributedSampler)


def _global_sums(train: _Sums, val: _Sums | None, val_sharded: bool) -> tuple[_Sums, _Sums | None]:
    """The epoch's sums over every rank, in one all-reduce.

    A validation loader without a DistributedSampler gave every rank the whole set: rank
    0's numbers are taken (the others add zeros).
    """
    from gradflow.distributed import all_reduce

    parts = [train] + ([val] if val is not None else [])
    if val is not None and not val_sharded and not is_main_process():
        parts[1] = _Sums()
    values = gf.tensor([x for s in parts for x in (s.loss_sum, s.correct, s.seen)],
                       dtype=gf.float64)
    all_reduce(values)
    totals = values.tolist()
    summed = [_Sums(totals[i], round(totals[i + 1]), round(totals[i + 2]))
              for i in range(0, len(totals), 3)]
    return summed[0], (summed[1] if val is not None else None)


class _StopTogether(KeyboardInterrupt):
    """Ctrl-C taken between steps (under data parallelism: by every rank after the same one)."""


def _interrupted(guard: InterruptGuard, state: TrainState, distributed: bool) -> bool:
    """Whether Ctrl-C asks fit to stop now. Under data parallelism Ctrl-C and a callback's
    stop on any rank hold for every rank (one small all-reduce; every rank calls this after
    the same steps), so that all ranks leave after the same step."""
    if not distributed:
        return guard.requested
    from gradflow.distributed import ReduceOp, all_reduce

    flags = gf.tensor([int(guard.requested), int(state.should_stop)])
    all_reduce(flags, ReduceOp.MAX)
    requested, stop = (bool(flag) for flag in flags.tolist())
    if stop and not state.should_stop:
        state.stop("a callback on another rank stopped training")
    guard.requested = requested
    return requested
