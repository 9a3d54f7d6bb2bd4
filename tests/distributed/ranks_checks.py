"""Run on 2 ranks by tests/distributed/test_multiprocess.py (`gradflow run -n 2 <this>`).

Each check prints "CHECK <name> ok <details>" on rank 0 when it passed on every rank;
a failure raises, which aborts all ranks. Every rank also computes the single-process
reference (the whole batch, no process group involved) itself, so the comparisons need
no second job.
"""

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import gradflow as gf
import gradflow.distributed as dist
from gradflow import models, nn, optim
from gradflow.checkpoint import load_checkpoint, save_checkpoint
from gradflow.data import DataLoader, DistributedSampler, TensorDataset
from gradflow.nn.parallel import DistributedDataParallel as DDP
from gradflow.nn.utils import clip_grad_norm_
from gradflow.train import fit
from gradflow.train.callbacks import Callback

BATCH, STEPS, MAX_NORM = 8, 20, 0.5


def report(name: str, details: str = "") -> None:
    dist.barrier()
    if dist.get_rank() == 0:
        print(f"CHECK {name} ok {details}", flush=True)


def digest(model) -> bytes:
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(np.ascontiguousarray(p.numpy()).tobytes())
    return h.digest()


def assert_same_on_all_ranks(model, what: str) -> None:
    mine = gf.tensor(np.frombuffer(digest(model), dtype=np.uint8).copy())
    parts = [gf.zeros(32, dtype=gf.uint8) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    if any(p.tolist() != parts[0].tolist() for p in parts):
        raise AssertionError(f"{what}: parameters differ between ranks")


def rel_diff(a, b) -> float:
    worst = 0.0
    for p, q in zip(a.parameters(), b.parameters()):
        x, y = p.numpy(), q.numpy()
        worst = max(worst, float(np.abs(x - y).max() / max(np.abs(y).max(), 1e-300)))
    return worst


def data(steps: int, seed: int = 1):
    g = gf.Generator(seed)
    x = gf.randn(steps * BATCH, 1, 8, 8, generator=g, dtype=gf.float64)
    y = gf.randint(0, 10, (steps * BATCH,), generator=g)
    return x, y


def make(batch_norm: bool, seed: int = 0):
    gf.manual_seed(seed)
    return models.cnn(image_size=8, widths=(4, 8), hidden=16, batch_norm=batch_norm).double()


def half(t, step: int):
    """This rank's half of global batch `step`."""
    per_rank = BATCH // dist.get_world_size()
    start = step * BATCH + dist.get_rank() * per_rank
    return t[start:start + per_rank]


def train(model, x, y, steps, ddp: bool, opt=None, first=0):
    opt = opt or optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    clipped = 0
    for step in range(first, first + steps):
        xb, yb = (half(x, step), half(y, step)) if ddp else (
            x[step * BATCH:(step + 1) * BATCH], y[step * BATCH:(step + 1) * BATCH])
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        norm = float(clip_grad_norm_(model.parameters(), MAX_NORM).item())
        clipped += norm > MAX_NORM
        opt.step()
        if ddp:
            assert_same_on_all_ranks(model, f"step {step}")
    return opt, clipped


def check_collectives() -> None:
    rank, size = dist.get_rank(), dist.get_world_size()
    for device in ("cpu", "strict"):
        t = gf.tensor([1.0, -2.0], device=device) * (rank + 1)
        dist.all_reduce(t)
        assert t.tolist() == [3.0, -6.0], t
        t = gf.tensor([1.0, -2.0], device=device) * (rank + 1)
        work = dist.all_reduce(t, dist.ReduceOp.AVG, async_op=True)
        deadline = time.monotonic() + 30
        while not work.is_completed():  # NOTE: polled without blocking, as in PyTorch
            assert time.monotonic() < deadline, "is_completed() never became True"
            time.sleep(0.001)
        assert work.wait() is True and work.is_completed()
        assert t.tolist() == [1.5, -3.0], t
        t = gf.tensor([rank, -rank], device=device)
        dist.all_reduce(t, dist.ReduceOp.MAX)
        assert t.tolist() == [size - 1, 0], t
        b = gf.full((2,), float(rank), device=device)
        dist.broadcast(b, src=1)
        assert b.tolist() == [1.0, 1.0], b
        parts = [gf.zeros(2, device=device) for _ in range(size)]
        dist.all_gather(parts, gf.ones(2, device=device) * rank)
        assert [p.tolist() for p in parts] == [[float(r)] * 2 for r in range(size)]
    report("collectives", "cpu and strict: sum, avg (async: is_completed, wait() is True), "
                          "max, broadcast, all_gather")


def check_equivalence(batch_norm: bool) -> None:
    x, y = data(STEPS)
    reference = make(batch_norm)
    train(reference, x, y, STEPS, ddp=False)
    model = make(batch_norm, seed=rank_seed())  # NOTE: rank 1 starts elsewhere: DDP broadcasts
    if batch_norm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DDP(model, bucket_cap_mb=0.002)  # several buckets
    _, clipped = train(ddp, x, y, STEPS, ddp=True)
    diff = rel_diff(ddp.module, reference)
    assert diff <= 1e-12, f"batch_norm={batch_norm}: relative difference {diff:.3g} > 1e-12"
    assert clipped > 0, "clipping never engaged: the check would not test it"
    name = "equivalence_syncbn" if batch_norm else "equivalence_cnn"
    report(name, f"rel_diff={diff:.2e} clipped_steps={clipped}/{STEPS} "
                 f"buckets={len(ddp._buckets)}")


def check_strict_device() -> None:
    """DDP on array-api-strict tensors (gradients staged through the host)."""
    x, y = data(3)
    x, y = x.to("strict:device1"), y.to("strict:device1")
    reference = make(True).to("strict:device1")
    train(reference, x, y, 3, ddp=False)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(make(True, seed=rank_seed()))
    ddp = DDP(model.to("strict:device1"), bucket_cap_mb=0.002)
    train(ddp, x, y, 3, ddp=True)
    diff = rel_diff(ddp.module, reference)
    assert diff <= 1e-12, f"strict: relative difference {diff:.3g}"
    report("strict_device", f"SyncBatchNorm CNN on strict:device1, 3 steps, rel_diff={diff:.2e}")


def rank_seed() -> int:
    """Rank 0 starts from the reference's weights, the others elsewhere (DDP broadcasts)."""
    return 0 if dist.get_rank() == 0 else 100 + dist.get_rank()


def check_overlap() -> None:
    """Buckets start while backward still has gradients to compute."""
    ddp = DDP(make(False), bucket_cap_mb=0.002)
    ready_at_launch = []
    launch = ddp._launch
    ddp._launch = lambda bucket: (ready_at_launch.append(len(ddp._ready)), launch(bucket))
    x, y = data(1)
    nn.CrossEntropyLoss()(ddp(half(x, 0)), half(y, 0)).backward()
    total = len(list(ddp.module.parameters()))
    assert len(ready_at_launch) == len(ddp._buckets) > 1
    assert ready_at_launch[0] < total, ready_at_launch
    report("overlap", f"gradients ready at each bucket launch {ready_at_launch} of {total}")


def check_no_sync() -> None:
    x, y = data(2)
    loss_fn = nn.CrossEntropyLoss()
    reference = make(False)
    opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for micro in range(2):
        loss_fn(reference(x[micro * BATCH:(micro + 1) * BATCH]),
                y[micro * BATCH:(micro + 1) * BATCH]).backward()
    opt.step()
    ddp = DDP(make(False))
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    with ddp.no_sync():
        loss_fn(ddp(half(x, 0)), half(y, 0)).backward()
    grads = [gf.tensor(np.frombuffer(hashlib.sha256(p.grad.numpy().tobytes()).digest(),
                                     dtype=np.uint8).copy()) for p in ddp.parameters()]
    parts = [gf.zeros(32, dtype=gf.uint8) for _ in range(2)]
    dist.all_gather(parts, grads[0])
    assert parts[0].tolist() != parts[1].tolist(), "no_sync still averaged the gradients"
    loss_fn(ddp(half(x, 1)), half(y, 1)).backward()
    opt.step()
    assert_same_on_all_ranks(ddp.module, "no_sync")
    diff = rel_diff(ddp.module, reference)
    assert diff <= 1e-12, f"no_sync: relative difference {diff:.3g}"
    report("no_sync", f"rel_diff={diff:.2e}")


def check_resume() -> None:
    """A checkpoint written by rank 0 of 2 resumes on 2 ranks exactly."""
    x, y = data(6)
    ddp = DDP(make(False))
    opt, _ = train(ddp, x, y, 3, ddp=True)
    folder = Path(tempfile.gettempdir()) / f"gradflow-resume-{dist.get_world_size()}"
    path = folder / "ckpt.safetensors"
    if dist.is_main_process():
        folder.mkdir(exist_ok=True)
        save_checkpoint(path, ddp.module, opt)
    dist.barrier()
    train(ddp, x, y, 3, ddp=True, opt=opt, first=3)
    resumed = DDP(make(False, seed=rank_seed()))
    opt2 = optim.SGD(resumed.parameters(), lr=0.1, momentum=0.9)
    load_checkpoint(path, resumed.module, opt2)
    train(resumed, x, y, 3, ddp=True, opt=opt2, first=3)
    assert digest(resumed.module) == digest(ddp.module), "the resumed run diverged"
    state = ddp.state_dict()
    assert all(k.startswith("module.") for k in state), list(state)
    report("resume", "bitwise equal after 3+3 steps; state_dict keys carry 'module.'")


def check_fit_metrics() -> None:
    """fit's epoch metrics on 2 ranks are the whole epoch's: those of 1 process on the same
    global batches, on every rank; validation over a DistributedSampler counts the sample
    it pads with once."""
    g = gf.Generator(3)
    x, y = gf.randn(40, 6, generator=g, dtype=gf.float64), gf.randint(0, 3, (40,), generator=g)
    vx, vy = gf.randn(13, 6, generator=g, dtype=gf.float64), gf.randint(0, 3, (13,), generator=g)
    train_set, val_set = TensorDataset(x, y), TensorDataset(vx, vy)

    def run(model, world: int, callbacks=()):
        loader = DataLoader(train_set, batch_size=8 // world, sampler=DistributedSampler(
            train_set, num_replicas=world, rank=dist.get_rank() % world, seed=0))
        val = DataLoader(val_set, batch_size=3, sampler=DistributedSampler(
            val_set, num_replicas=world, rank=dist.get_rank() % world, shuffle=False))
        opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        return fit(model, loader, opt, nn.CrossEntropyLoss(), 3, val_loader=val, log=None,
                   grad_norm_every=0, callbacks=callbacks)

    def mlp(seed):
        gf.manual_seed(seed)
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()

    reference = run(mlp(0), world=1)
    history = run(DDP(mlp(rank_seed())), world=2)
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
    worst = 0.0
    for key in keys:
        for a, b in zip(history[key], reference[key], strict=True):
            worst = max(worst, abs(a - b) / max(abs(b), 1e-300))
    assert worst <= 1e-12, f"epoch metrics differ from one process's: {worst:.3g}\n" \
                           f"{[history[k] for k in keys]}\n{[reference[k] for k in keys]}"
    numbers = np.array([v for k in keys for v in history[k]], dtype=np.float64)
    mine = gf.tensor(np.frombuffer(hashlib.sha256(numbers.tobytes()).digest(),
                                   dtype=np.uint8).copy())
    parts = [gf.zeros(32, dtype=gf.uint8) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, mine)
    assert all(p.tolist() == parts[0].tolist() for p in parts), "the ranks' histories differ"

    class StopOnRankOne(Callback):
        def on_batch_end(self, state):
            if dist.get_rank() == 1 and state.step == 7:
                state.stop("rank 1 had enough")

    ddp = DDP(mlp(0))
    stopped = run(ddp, world=2, callbacks=[StopOnRankOne()])  # NOTE: would hang if not agreed
    assert stopped["epoch"] == [1, 2], stopped["epoch"]   # step 7 is in epoch 2 of 3
    assert stopped.stop_reason == ("rank 1 had enough" if dist.get_rank() == 1 else
                                   "a callback on another rank stopped training")
    assert_same_on_all_ranks(ddp.module, "stopped by a callback on rank 1")
    report("fit_metrics", f"3 epochs, train 40 / val 13 samples, rel_diff={worst:.2e}; "
                          f"val accuracy {history['val_accuracy']}; a stop on rank 1 holds "
                          "for rank 0")


def check_unused() -> None:
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 2)
            self.unused = nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    gf.manual_seed(0)
    ddp = DDP(TwoHeads())
    ddp(gf.randn(3, 4)).sum().backward()
    try:
        ddp(gf.randn(3, 4))
    except gf.errors.DistributedError as exc:
        assert "unused.weight" in str(exc), exc
    else:
        raise AssertionError("a parameter without a gradient went unnoticed")
    ddp = DDP(TwoHeads(), find_unused_parameters=True)
    for _ in range(2):
        ddp(gf.randn(3, 4) * (dist.get_rank() + 1)).sum().backward()
    assert ddp.module.unused.weight.grad.tolist() == [[0.0] * 4] * 2
    loss = ddp(gf.randn(3, 4)).sum()
    loss.backward(retain_graph=True)
    try:
        loss.backward()
    except gf.errors.DistributedError as exc:
        assert "backward twice" in str(exc), exc
    else:
        raise AssertionError("a second backward after one forward went unnoticed")
    check_unused_on_one_rank()
    report("unused_parameters", "error without find_unused_parameters, zeros with it (also "
                                "when only rank 1 skips a layer: its half of the average is "
                                "zero); a second backward after one forward raises")


class Branchy(nn.Module):
    """first -> (middle, unless skip) -> last."""

    def __init__(self):
        super().__init__()
        self.first, self.middle, self.last = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.skip = False

    def forward(self, x):
        h = self.first(x).tanh()
        return self.last(h if self.skip else self.middle(h))


def check_unused_on_one_rank() -> None:
    """find_unused_parameters=True with a layer that only rank 1 skips: the gradients are
    the average of rank 0's and zeros for that layer, of both ranks' for the others."""
    gf.manual_seed(0)
    model = Branchy().double()
    model.skip = dist.get_rank() == 1
    ddp = DDP(model, find_unused_parameters=True)
    x = gf.randn(3, 4, generator=gf.Generator(5), dtype=gf.float64)
    expected = {}
    for skip in (False, True):  # NOTE: what each rank computes, averaged by hand
        alone = Branchy().double()
        alone.load_state_dict(model.state_dict())
        alone.skip = skip
        alone(x).pow(2).sum().backward()
        for name, p in alone.named_parameters():
            grad = p.grad.numpy() if p.grad is not None else 0.0
            expected[name] = expected.get(name, 0.0) + grad / 2
    for _ in range(2):  # the second step finds the reducer ready again
        ddp.zero_grad(set_to_none=True)
        ddp(x).pow(2).sum().backward()
        ddp.check_gradients_reduced()
        for name, p in model.named_parameters():
            assert np.allclose(p.grad.numpy(), expected[name], rtol=1e-12, atol=1e-15), name
    assert np.abs(expected["middle.weight"]).max() > 0


def main() -> int:
    dist.init_process_group()
    assert dist.get_world_size() == 2, "run me on 2 ranks"
    checks = [check_collectives, lambda: check_equivalence(False),
              lambda: check_equivalence(True), check_strict_device, check_overlap,
              check_no_sync, check_resume, check_fit_metrics, check_unused]
    for check in checks:
        check()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
