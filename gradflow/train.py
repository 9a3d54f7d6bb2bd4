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
import time
from pathlib import Path

import gradflow as gf
from gradflow.backends.threads import rebalance as rebalance_threads
from gradflow.errors import ConfigError, NonFiniteError


class History(dict):
    """Per-epoch metrics (lists keyed by name) plus per-step gradient norms per parameter."""

    def __init__(self):
        super().__init__(epoch=[], train_loss=[], train_accuracy=[], val_loss=[],
                         val_accuracy=[], seconds=[], samples_per_second=[], lr=[],
                         skipped_steps=[], grad_norm_steps=[], grad_norms={})

    def save(self, path) -> None:
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self, indent=1))
        os.replace(tmp, path)


def _progress(iterable, total: int, description: str, enabled: bool):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(iterable, total=total, desc=description, leave=False, dynamic_ncols=True)
        except ImportError:
            pass
    return iterable


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


def _accuracy_counts(logits, labels) -> int:
    return int((logits.argmax(dim=1) == labels).sum().item())


def evaluate(model, loader, loss_fn=None, num_classes: int | None = None) -> dict:
    """Loss, accuracy and confusion matrix of a classifier over a loader, without gradients.

    Returns:
        {"loss": float or None, "accuracy": float, "confusion": list of lists (true x predicted)}

    Example:
        >>> evaluate(model, test_loader, nn.CrossEntropyLoss())["accuracy"]
        0.97
    """
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    predictions, truths = [], []
    with gf.no_grad():
        for images, labels in loader:
            logits = model(images)
            if loss_fn is not None:
                loss_sum += float(loss_fn(logits, labels).item()) * labels.shape[0]
            predicted = logits.argmax(dim=1)
            correct += int((predicted == labels).sum().item())
            total += labels.shape[0]
            predictions += predicted.tolist()
            truths += labels.tolist()
    model.train(was_training)
    classes = num_classes or (max(truths + predictions) + 1 if truths else 0)
    confusion = [[0] * classes for _ in range(classes)]
    for t, p in zip(truths, predictions):
        confusion[t][p] += 1
    return {"loss": loss_sum / total if loss_fn is not None and total else None,
            "accuracy": correct / total if total else 0.0, "confusion": confusion}


# NOTE: one read of /proc/stat; every ~200 steps follows a load that starts mid-epoch.
THREAD_CHECK_STEPS = 200


def fit(model, train_loader, optimizer, loss_fn, epochs: int, val_loader=None, scheduler=None,
        clip_grad_norm: float | None = None, nonfinite: str = "raise", callbacks=(),
        out_dir=None, progress: bool = True, grad_norm_every: int = 10,
        plots: bool = True, log=print, amp: bool = False, amp_dtype=None) -> History:
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
        callbacks: functions called as cb(epoch, history) after each epoch.
        out_dir: where history.json and the plots are written.
        progress: show a tqdm bar per epoch (loss, accuracy, samples/s).
        grad_norm_every: record per-parameter gradient norms every this many steps (0: never).
        amp: mixed precision: forward and loss under gf.autocast, with a GradScaler for
            float16 (its skipped steps are counted as skipped). On NumPy it is usually
            slower than float32 (no low-precision BLAS); on CUDA it is the recommendation.
        amp_dtype: gf.float16 or gf.bfloat16; default float16 on CUDA, bfloat16 on the CPU.

    Returns:
        The History (also written to out_dir/history.json).

    Example:
        >>> history = fit(model, loader, gf.optim.SGD(model.parameters(), lr=0.1),
        ...               nn.CrossEntropyLoss(), epochs=5)
    """
    from gradflow.nn.utils import clip_grad_norm_
    from gradflow.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"fit: epochs must be a positive int, got {epochs!r}")
    history = History()
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    per_batch = isinstance(scheduler, OneCycleLR)
    named = list(model.named_parameters())
    region, scaler = _mixed_precision(named, amp, amp_dtype)
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        seen, correct, loss_sum, skipped = 0, 0, 0.0, 0
        bar = _progress(train_loader, len(train_loader), f"epoch {epoch}/{epochs}", progress)
        rebalance_threads()  # "auto": BLAS threads follow the cores other processes left free
        for images, labels in bar:
            if step % THREAD_CHECK_STEPS == THREAD_CHECK_STEPS - 1:
                rebalance_threads()
            with region:
                logits = model(images)                   # 1. forward pass
                loss = loss_fn(logits, labels)           # 2. error
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()                # 3. backward pass (chain rule)
            scaler.unscale_(optimizer)                   # (mixed precision only)
            if grad_norm_every and step % grad_norm_every == 0:
                _record_grad_norms(model, history, step)
            loss_value = float(loss.item())
            if not math.isfinite(loss_value) and nonfinite == "raise":
                raise NonFiniteError(f"fit: the loss became {loss_value} at epoch {epoch}, step "
                                     f"{step}, before the update; lower the learning rate or "
                                     f"pass clip_grad_norm")
            if scaler.is_enabled():  # the scaler skips steps with inf/NaN gradients
                if clip_grad_norm is not None:
                    clip_grad_norm_(named, clip_grad_norm, nonfinite="ignore")
                scale = scaler.get_scale()
                scaler.step(optimizer)
                scaler.update()
                if scaler.get_scale() < scale:
                    skipped += 1
                    step += 1
                    continue
            elif clip_grad_norm is not None or nonfinite != "ignore":
                # NOTE: without clipping, the norm is still taken (max_norm=inf scales
                # nothing) so that a NaN or Inf gradient never reaches the weights.
                limit = math.inf if clip_grad_norm is None else clip_grad_norm
                norm = clip_grad_norm_(named, limit, nonfinite=nonfinite)
                if nonfinite == "skip" and not math.isfinite(float(norm.item())):
                    skipped += 1
                    step += 1
                    continue
            if not scaler.is_enabled():
                optimizer.step()                         # 4. weight update
            if per_batch:
                scheduler.step()
            batch = labels.shape[0]
            loss_sum += loss_value * batch
            correct += _accuracy_counts(logits.detach(), labels)
            seen += batch
            step += 1
            if bar is not train_loader:
                elapsed = time.perf_counter() - started
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                samples_s=f"{seen / elapsed:.0f}", refresh=False)
        seconds = time.perf_counter() - started
        history["epoch"].append(epoch)
        history["train_loss"].append(loss_sum / seen if seen else float("nan"))
        history["train_accuracy"].append(correct / seen if seen else 0.0)
        history["seconds"].append(seconds)
        history["samples_per_second"].append(seen / seconds if seconds else 0.0)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["skipped_steps"].append(skipped)
        line = (f"epoch {epoch}/{epochs}: train loss {history['train_loss'][-1]:.4f}, "
                f"accuracy {history['train_accuracy'][-1]:.4f}, {seconds:.1f}s")
        if val_loader is not None:
            result = evaluate(model, val_loader, loss_fn)
            history["val_loss"].append(result["loss"])
            history["val_accuracy"].append(result["accuracy"])
            line += f", test loss {result['loss']:.4f}, test accuracy {result['accuracy']:.4f}"
        if skipped:
            line += f", {skipped} step(s) skipped (non-finite gradients)"
        if scheduler is not None and not per_batch:
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(history["val_loss"][-1] if val_loader is not None
                               else history["train_loss"][-1])
            else:
                scheduler.step()
        if log is not None:
            log(line)
        for callback in callbacks:
            callback(epoch, history)
        if out_dir is not None:
            history.save(out_dir / "history.json")
    if out_dir is not None and plots:
        plot_history(history, out_dir)
    return history


def plot_history(history: History, out_dir) -> list[Path]:
    """Loss/accuracy curves and per-parameter gradient norms as PNGs (needs matplotlib)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return []
    out_dir = Path(out_dir)
    written = []
    # NOTE: a bare Figure, not pyplot: no GUI backend is chosen or switched in the
    # user's process (a notebook keeps its own).
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(history["epoch"], history["train_loss"], label="train")
    if history["val_loss"]:
        left.plot(history["epoch"], history["val_loss"], label="test")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    right.plot(history["epoch"], history["train_accuracy"], label="train")
    if history["val_accuracy"]:
        right.plot(history["epoch"], history["val_accuracy"], label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=100)
    written.append(out_dir / "curves.png")
    if history["grad_norms"]:
        written.append(plot_grad_norms(history, out_dir / "grad_norms.png"))
    return written


def plot_grad_norms(history: History, path, title: str = "gradient norm per parameter") -> Path:
    """One line per parameter: its gradient norm over training steps (log scale)."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    axis = fig.subplots()
    norms = history["grad_norms"]
    # NOTE: the default cycle has 10 colours; deeper models get 20 (tab20), then a ramp.
    palette = matplotlib.colormaps["tab10" if len(norms) <= 10 else "tab20"
                                  if len(norms) <= 20 else "viridis"]
    for i, (name, values) in enumerate(norms.items()):
        color = palette(i) if len(norms) <= 20 else palette(i / max(len(norms) - 1, 1))
        axis.plot(history["grad_norm_steps"][:len(values)], values, label=name, color=color)
    axis.set(xlabel="step", ylabel="gradient norm", yscale="log", title=title)
    axis.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def _mixed_precision(named, amp: bool, amp_dtype):
    """(autocast region, GradScaler) for fit: both disabled unless amp; a scaler for float16."""
    from gradflow import dtypes
    from gradflow.amp import GradScaler, autocast, device_kind

    kind = device_kind(named[0][1].backend) if named else "cpu"
    if amp_dtype is None:
        amp_dtype = dtypes.float16 if kind == "cuda" else dtypes.bfloat16
    elif isinstance(amp_dtype, str):
        amp_dtype = dtypes.by_name(amp_dtype)
    region = autocast(kind, dtype=amp_dtype, enabled=bool(amp))
    return region, GradScaler(enabled=bool(amp) and amp_dtype is dtypes.float16)
