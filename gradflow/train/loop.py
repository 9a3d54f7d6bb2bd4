"""fit / evaluate: the mini-batch training loop, with progress bar, history and plots.

Each step is the backpropagation story: forward pass, error (the loss), backward
pass (the chain rule, by the engine), then the weight update (the optimizer).
The history keeps per-epoch losses and accuracies and, every few steps, the
gradient norm of each parameter: the numbers behind vanishing and exploding
gradients.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import gradflow as gf
from gradflow.amp import GradScaler, autocast
from gradflow.backends.threads import rebalance as rebalance_threads
from gradflow.distributed import is_main_process
from gradflow.errors import ConfigError, NonFiniteError
from gradflow.extras import optional
from gradflow.train.callbacks import TrainState, as_callback
from gradflow.train.evaluation import _accuracy_counts, _evaluation_sums, _Sums
from gradflow.train.interrupt import InterruptGuard, TrainingInterrupted
from gradflow.train.plots import plot_history
from gradflow.train.ranks import _data_parallel, _global_sums, _interrupted, _sharded, _StopTogether
from gradflow.train.state import read_state, write_state

INTERRUPTED = "interrupted.safetensors"


class History(dict):
    """Per-epoch metrics (lists keyed by name) plus per-step gradient norms per parameter.

    Example:
        >>> history = History()
        >>> history["train_loss"].append(0.5)
        >>> history.save("history.json")
        >>> json.loads(Path("history.json").read_text())["train_loss"]
        [0.5]
    """

    def __init__(self):
        super().__init__(epoch=[], train_loss=[], train_accuracy=[], val_loss=[],
                         val_accuracy=[], seconds=[], samples_per_second=[], lr=[],
                         skipped_steps=[], grad_norm_steps=[], grad_norms={})
        self.stop_reason: str | None = None  # set when a callback stopped training
        self.plots: list[Path] = []  # the plot files fit() wrote

    def save(self, path) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self, indent=1))
        os.replace(tmp, path)


def _progress(iterable, total: int, initial: int, description: str, enabled: bool | None):
    """A tqdm bar when asked for, or by default when stderr is a terminal; else the iterable."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    tqdm = optional("tqdm", "there is no progress bar") if enabled else None
    if tqdm is None:
        return iterable
    return tqdm.tqdm(iterable, total=total, initial=initial, desc=description, leave=False,
                     dynamic_ncols=True)


def _record_grad_norms(model, history: History, step: int) -> None:
    """Every parameter's gradient norm, computed on the device, read back in one transfer."""
    named = [(n, p) for n, p in model.named_parameters() if p.grad is not None]
    if not named:
        return
    with gf.no_grad():
        norms = gf.stack([gf.norm(p.grad.to(gf.float32)) for _, p in named]).tolist()
    history["grad_norm_steps"].append(step)
    for (name, _), value in zip(named, norms):
        history["grad_norms"].setdefault(name, []).append(value)



# NOTE: one read of /proc/stat; every ~200 steps follows a load that starts mid-epoch.
THREAD_CHECK_STEPS = 200


def fit(model, train_loader, optimizer, loss_fn, epochs: int, val_loader=None, scheduler=None,
        clip_grad_norm: float | None = None, nonfinite: str = "raise", callbacks=(),
        out_dir=None, progress: bool | None = None, grad_norm_every: int = 10,
        plots: bool = True, log=print, resume=None, amp: bool = False,
        amp_dtype=None) -> History:
    """Train a classifier with mini-batches.

    Args:
        model: a Module mapping a batch of inputs to logits.
        train_loader: yields (inputs, labels) batches on the model's device.
        optimizer: updates the model's parameters.
        loss_fn: (logits, labels) -> scalar loss.
        epochs: passes over the training data (>= 1).
        val_loader: evaluated after each epoch.
        scheduler: an LR scheduler; OneCycleLR steps per batch, ReduceLROnPlateau on the
            validation loss, the others per epoch.
        clip_grad_norm: clip the global gradient norm to this value.
        nonfinite: what to do when the loss or the global gradient norm is NaN/Inf, checked
            before every update, with or without clipping: "raise" (NonFiniteError, weights
            untouched), "skip" (the step is skipped and counted in the history), "zero"
            (non-finite entries set to 0), "ignore" (no check, as PyTorch).
        callbacks: Callback objects (gradflow.train.callbacks), or functions called as
            f(epoch, history) after each epoch. Any of them may stop training.
        out_dir: where history.json, the plots and, on Ctrl-C, interrupted.safetensors go.
        progress: a tqdm bar per epoch; None (default): only when stderr is a terminal.
        grad_norm_every: record per-parameter gradient norms every this many steps (0: never).
        plots: write curves.png and grad_norms.png into out_dir (needs matplotlib).
        log: called with one line per epoch (None: silent).
        resume: an interrupted.safetensors to continue from, exactly where it stopped.
        amp: mixed precision: forward and loss under gf.autocast, with a GradScaler for
            float16 (its skipped steps are counted as skipped). On NumPy it is usually
            slower than float32 (no low-precision BLAS); on CUDA it is the recommendation.
        amp_dtype: gf.float16 or gf.bfloat16; default float16 on CUDA, bfloat16 on the CPU.

    Under data parallelism (`model` a DistributedDataParallel on several ranks; call fit on
    every rank) the epoch's metrics are the world's: each rank's summed loss (loss x
    samples), correct predictions and samples are added over the ranks in one all-reduce
    per epoch, so every rank gets the same history and rank 0 prints and writes the global
    numbers. Training counts every sample trained on, including those a DistributedSampler
    repeats to pad the ranks' shares (as PyTorch does: they are in the gradient);
    validation over a DistributedSampler counts each sample once (the padding is left out);
    a validation loader without one is evaluated whole on every rank and rank 0's numbers
    are taken. The progress bar (rank 0) shows rank 0's running numbers. Ctrl-C (the
    signal SIGUSR1 on a rank: what `gradflow run` and `gradflow train --nproc` forward) and
    a callback's stop are agreed between ranks after each step, through one small
    all-reduce, so all stop after the same step; rank 0 writes the resume point before
    any rank returns.

    Returns:
        The History (also written to out_dir/history.json), also when a callback stopped
        training; `history.stop_reason` says why, `history.plots` lists the plots written.

    Raises:
        TrainingInterrupted: (a KeyboardInterrupt) on Ctrl-C, after the step in progress
            finished (or was dropped) and the state was saved to out_dir/interrupted.safetensors.

    Example:
        >>> _ = gf.manual_seed(0)
        >>> x, y = gf.randn(64, 4), gf.randint(0, 2, (64,))
        >>> model = nn.Linear(4, 2)
        >>> history = fit(model, DataLoader(TensorDataset(x, y), batch_size=16), optim.SGD(
        ...     model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=2, log=None)
        >>> history["epoch"]
        [1, 2]
    """
    from gradflow.nn.utils import clip_grad_norm_
    from gradflow.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"fit: epochs must be a positive int, got {epochs!r}")
    distributed = _data_parallel(model)
    if not is_main_process():  # NOTE: under data parallelism only rank 0 reports and writes
        progress, log, out_dir = False, None, None
    history = History()
    callbacks = [as_callback(c) for c in callbacks]
    state = TrainState(model, optimizer, scheduler, history, epochs)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    per_batch = isinstance(scheduler, OneCycleLR)
    named = list(model.named_parameters())
    region, scaler = _mixed_precision(named, amp, amp_dtype)
    state.scaler = scaler
    at = _Position()
    if resume is not None:
        at = _Position.restore(resume, state, callbacks, distributed)
    step = state.step
    for callback in callbacks:
        callback.on_train_begin(state)
    guard = InterruptGuard()
    try:
        with guard:
            for epoch in range(at.epoch, epochs + 1):
                state.epoch = epoch
                model.train()
                if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
                    train_loader.sampler.set_epoch(epoch - 1)  # a DistributedSampler's shuffle
                started = time.perf_counter()
                at.begin_epoch(epoch, train_loader)
                for callback in callbacks:
                    callback.on_epoch_begin(state)
                batches = at.batches(train_loader)
                bar = _progress(batches, len(train_loader), at.batch, f"epoch {epoch}/{epochs}",
                                progress)
                rebalance_threads()  # "auto": BLAS threads follow the cores others left free
                for images, labels in bar:
                    if step % THREAD_CHECK_STEPS == THREAD_CHECK_STEPS - 1:
                        rebalance_threads()
                    at.step_rng = gf.get_rng_state()
                    with region:
                        logits = model(images)                   # 1. forward pass
                        loss = loss_fn(logits, labels)           # 2. error
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()                # 3. backward pass (chain rule)
                    if distributed:  # NOTE: before any other collective (see the method)
                        model.check_gradients_reduced()
                    scaler.unscale_(optimizer)                   # (mixed precision only)
                    if grad_norm_every and step % grad_norm_every == 0:
                        _record_grad_norms(model, history, step)
                    loss_value = float(loss.item())
                    if not math.isfinite(loss_value) and nonfinite == "raise":
                        raise NonFiniteError(
                            f"fit: the loss became {loss_value} at epoch {epoch}, step {step}, "
                            f"before the update; lower the learning rate or pass clip_grad_norm")
                    update = True
                    if scaler.is_enabled():  # the scaler skips steps with inf/NaN gradients
                        if clip_grad_norm is not None:
                            clip_grad_norm_(named, clip_grad_norm, nonfinite="ignore")
                    elif clip_grad_norm is not None or nonfinite != "ignore":
                        # NOTE: without clipping, the norm is still taken (max_norm=inf scales
                        # nothing) so that a NaN or Inf gradient never reaches the weights.
                        limit = math.inf if clip_grad_norm is None else clip_grad_norm
                        norm = clip_grad_norm_(named, limit, nonfinite=nonfinite)
                        update = nonfinite != "skip" or math.isfinite(float(norm.item()))
                    guard.updating = True
                    if scaler.is_enabled():
                        scale = scaler.get_scale()
                        scaler.step(optimizer)                   # 4. weight update
                        scaler.update()
                        update = scaler.get_scale() >= scale
                    elif update:
                        optimizer.step()                         # 4. weight update
                    if update:
                        if per_batch:
                            scheduler.step()
                        batch = labels.shape[0]
                        at.loss_sum += loss_value * batch
                        at.correct += _accuracy_counts(logits.detach(), labels)
                        at.seen += batch
                    else:
                        at.skipped += 1
                    at.batch += 1
                    step += 1
                    state.step, at.step_rng = step, None
                    guard.updating = False
                    if not update:
                        continue
                    if bar is not batches:
                        elapsed = time.perf_counter() - started
                        bar.set_postfix(loss=f"{at.loss_sum / at.seen:.4f}",
                                        acc=f"{at.correct / at.seen:.3f}",
                                        samples_s=f"{at.seen / elapsed:.0f}", refresh=False)
                    state.logs = {"loss": loss_value, "batch_size": labels.shape[0]}
                    for callback in callbacks:
                        callback.on_batch_end(state)
                    if _interrupted(guard, state, distributed):  # all ranks stop together
                        raise _StopTogether
                    if state.should_stop:
                        break
                at.schedule_before_epoch_end = _state_of(scheduler)
                seconds = time.perf_counter() - started
                train = _Sums(at.loss_sum, at.correct, at.seen)
                val = (_evaluation_sums(model, val_loader, loss_fn) if val_loader is not None
                       else None)
                if distributed:  # NOTE: the epoch's numbers are the whole world's, see fit()
                    train, val = _global_sums(train, val, _sharded(val_loader))
                logs = {"epoch": epoch, "train_loss": train.loss,
                        "train_accuracy": train.accuracy, "seconds": seconds,
                        "samples_per_second": train.seen / seconds if seconds else 0.0,
                        "lr": optimizer.param_groups[0]["lr"], "skipped_steps": at.skipped}
                line = (f"epoch {epoch}/{epochs}: train loss {logs['train_loss']:.4f}, "
                        f"accuracy {logs['train_accuracy']:.4f}, {seconds:.1f}s")
                if val is not None:
                    logs["val_loss"], logs["val_accuracy"] = val.loss, val.accuracy
                    line += f", test loss {val.loss:.4f}, test accuracy {val.accuracy:.4f}"
                if at.skipped:
                    line += f", {at.skipped} step(s) skipped (non-finite gradients)"
                if scheduler is not None and not per_batch:
                    if isinstance(scheduler, ReduceLROnPlateau):
                        scheduler.step(logs.get("val_loss", logs["train_loss"]))
                    else:
                        scheduler.step()
                for key, value in logs.items():
                    history[key].append(value)
                at.end_epoch(epoch, train_loader)
                if log is not None:
                    log(line)
                state.logs = logs
                for callback in callbacks:
                    callback.on_epoch_end(state)
                if out_dir is not None:
                    history.save(out_dir / "history.json")
                if _interrupted(guard, state, distributed):
                    raise _StopTogether
                if state.should_stop:
                    break
    except KeyboardInterrupt as stop:
        path = at.save(out_dir, state, callbacks, scheduler,
                       all_ranks=distributed and isinstance(stop, _StopTogether))
        if log is not None:
            log(f"interrupted at epoch {state.epoch}, step {state.step}"
                + (f": state saved to {path}" if path else " (no out_dir: nothing saved)"))
        for callback in callbacks:
            callback.on_train_end(state)
        raise TrainingInterrupted(path, history, state.epoch, state.step) from None
    history.stop_reason = state.stop_reason
    if state.stop_reason and log is not None:
        log(f"stopped early: {state.stop_reason}")
    for callback in callbacks:
        callback.on_train_end(state)
    history.plots = plot_history(history, out_dir) if out_dir is not None and plots else []
    return history


def _state_of(obj):
    return obj.state_dict() if obj is not None else None


class _Position:
    """Where training stands, kept so that Ctrl-C can save a point to resume from exactly.

    Exact resumption needs the generator as it was when the epoch's batches were drawn
    (the shuffle) and as it was at the resume point (dropout), the loader's own
    generator, the batches already done in the epoch and the epoch's running sums.
    """

    def __init__(self):
        self.epoch, self.batch = 1, 0
        self.seen, self.correct, self.loss_sum, self.skipped = 0, 0, 0.0, 0
        # generator and loader states (dicts) once recorded or restored
        self.epoch_rng: Any = None
        self.epoch_loader: Any = None
        self.resume_rng: Any = None
        self.step_rng: Any = None
        self.schedule_before_epoch_end: Any = None
        self.resuming = False

    def begin_epoch(self, epoch: int, loader) -> None:
        if self.resuming:
            gf.set_rng_state(self.epoch_rng)
            if self.epoch_loader is not None:
                loader.load_state_dict(self.epoch_loader)
            return
        self.epoch, self.batch = epoch, 0
        self.seen, self.correct, self.loss_sum, self.skipped = 0, 0, 0.0, 0
        self.epoch_rng = gf.get_rng_state()
        self.epoch_loader = loader.state_dict() if hasattr(loader, "state_dict") else None

    def batches(self, loader):
        """The loader's batches from the resume point on (all of them when not resuming)."""
        iterator = iter(loader)
        if self.resuming:
            for _ in range(self.batch):  # done before the interruption: drawn, not trained on
                next(iterator)
            gf.set_rng_state(self.resume_rng)
            self.resuming = False
        return iterator

    def end_epoch(self, epoch: int, loader) -> None:
        """The epoch is in the history: a resume now starts the next one afresh."""
        self.begin_epoch(epoch + 1, loader)
        self.schedule_before_epoch_end = None

    def save(self, out_dir, state: TrainState, callbacks, scheduler,
             all_ranks: bool = False) -> Path | None:
        """Write the resume point (rank 0 under data parallelism). With all_ranks (every
        rank agreed to stop here) the file holds the world's epoch sums and is complete
        before any rank returns."""
        sums = _Sums(self.loss_sum, self.correct, self.seen)
        if all_ranks:
            sums, _ = _global_sums(sums, None, val_sharded=False)
        path = self._write(out_dir, state, callbacks, scheduler, sums)
        if all_ranks:
            from gradflow.distributed import barrier

            barrier()
        return path

    def _write(self, out_dir, state: TrainState, callbacks, scheduler, sums) -> Path | None:
        if out_dir is None:
            return None
        history = state.history
        if self.step_rng is not None:  # a step was cut short: drop it, as if never begun
            gf.set_rng_state(self.step_rng)
            while history["grad_norm_steps"] and history["grad_norm_steps"][-1] >= state.step:
                history["grad_norm_steps"].pop()
                for values in history["grad_norms"].values():
                    if len(values) > len(history["grad_norm_steps"]):
                        values.pop()
        if self.schedule_before_epoch_end is not None:  # cut inside the epoch's end
            scheduler.load_state_dict(self.schedule_before_epoch_end)
        extra = {"format": "gradflow.train.interrupted/1", "epoch": self.epoch,
                 "batch": self.batch, "step": state.step,
                 "sums": [sums.seen, sums.correct, sums.loss_sum, self.skipped],
                 "epoch_rng": self.epoch_rng, "epoch_loader": self.epoch_loader,
                 "history": dict(history), "scaler": _scaler(state).state_dict(),
                 "callbacks": [[type(c).__name__, c.state_dict()] for c in callbacks]}
        history.save(out_dir / "history.json")
        return write_state(out_dir / INTERRUPTED, state.model, state.optimizer, scheduler, extra)

    @classmethod
    def restore(cls, path, state: TrainState, callbacks, distributed: bool) -> _Position:
        extra = read_state(path, state.model, state.optimizer, state.scheduler)
        if extra.get("format") != "gradflow.train.interrupted/1":
            raise ConfigError(f"fit: {path} is not an interrupted-training checkpoint (it was not "
                              f"written by fit on Ctrl-C); load it with gf.load instead")
        at = cls()
        at.resume_rng = gf.get_rng_state()
        at.epoch, at.batch, state.step = extra["epoch"], extra["batch"], extra["step"]
        at.seen, at.correct, at.loss_sum, at.skipped = extra["sums"]
        if distributed and not is_main_process():  # NOTE: rank 0 carries the world's sums
            at.seen, at.correct, at.loss_sum = 0, 0, 0.0
        at.epoch_rng, at.epoch_loader = extra["epoch_rng"], extra["epoch_loader"]
        at.resuming = True
        state.history.update(extra["history"])
        _scaler(state).load_state_dict(extra["scaler"])
        for callback, (name, saved) in zip(callbacks, extra["callbacks"]):
            if type(callback).__name__ == name:
                callback.load_state_dict(saved)
        return at



def _scaler(state: TrainState) -> GradScaler:
    """fit's GradScaler (set before anything is saved or restored)."""
    assert state.scaler is not None
    return state.scaler


def _mixed_precision(named, amp: bool, amp_dtype) -> tuple[autocast, GradScaler]:
    """(autocast region, GradScaler) for fit: both disabled unless amp; a scaler for float16."""
    from gradflow import dtypes
    from gradflow.amp import device_kind

    kind = device_kind(named[0][1].backend) if named else "cpu"
    if amp_dtype is None:
        amp_dtype = dtypes.float16 if kind == "cuda" else dtypes.bfloat16
    elif isinstance(amp_dtype, str):
        amp_dtype = dtypes.by_name(amp_dtype)
    region = autocast(kind, dtype=amp_dtype, enabled=bool(amp))
    return region, GradScaler(enabled=bool(amp) and amp_dtype is dtypes.float16)
