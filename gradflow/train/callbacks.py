"""Callbacks: code that fit() calls at fixed points of training, any of which can stop it.

A callback subclasses `Callback` and overrides the hooks it needs. Each hook receives the
`TrainState` (model, optimizer, history, epoch, step, the latest metrics in `logs`);
`state.stop(reason)` ends training after the current epoch's hooks (or, from
`on_batch_end`, after the current step) and fit() still returns the history.

Example:
    >>> class StopAtLoss(Callback):
    ...     def on_epoch_end(self, state):
    ...         if state.logs["train_loss"] < 0.1:
    ...             state.stop("the loss is small enough")
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from gradflow.errors import ConfigError


class TrainState:
    """What callbacks see: the objects being trained and where training stands.

    Attributes:
        model, optimizer, scheduler: the objects fit() was given.
        history: the History being filled.
        epoch: the current epoch (1-based); epochs: the total asked for.
        step: optimizer steps taken so far (skipped steps included).
        logs: the latest metrics: per step {"loss", "batch_size"}; per epoch
            {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", ...}.
        stop_reason: why a callback stopped training, or None.

    Example:
        >>> state = TrainState(model=None, optimizer=None, scheduler=None, history={}, epochs=3)
        >>> state.stop("enough"); state.should_stop, state.stop_reason
        (True, 'enough')
    """

    def __init__(self, model, optimizer, scheduler, history, epochs: int):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.history, self.epochs = history, epochs
        self.epoch, self.step, self.logs = 0, 0, {}
        self.scaler = None  # fit's GradScaler (disabled unless amp with float16)
        self.stop_reason: str | None = None

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str = "a callback asked to stop") -> None:
        """End training at the next point the loop checks (after this step or epoch)."""
        self.stop_reason = reason


class Callback:
    """Base class: every hook does nothing; override the ones you need.

    `state_dict` / `load_state_dict` carry a callback's own counters into the
    interrupted-run checkpoint, so a resumed run behaves as an uninterrupted one.

    Example:
        >>> class PrintEpoch(Callback):
        ...     def on_epoch_end(self, state):
        ...         print(state.epoch, round(state.logs["train_loss"], 3))
    """

    def on_train_begin(self, state: TrainState) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...
    def on_epoch_begin(self, state: TrainState) -> None: ...
    def on_epoch_end(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _EpochFunction(Callback):
    """A plain function f(epoch, history), called after each epoch (fit's older form)."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, state: TrainState) -> None:
        self.function(state.epoch, state.history)


def as_callback(item) -> Callback:
    """A Callback as given, or a function f(epoch, history) wrapped to run after each epoch.

    Example:
        >>> type(as_callback(lambda epoch, history: None)).__name__
        '_EpochFunction'
    """
    if isinstance(item, Callback):
        return item
    if callable(item):
        return _EpochFunction(item)
    raise ConfigError(f"fit: callbacks must be Callback instances or functions f(epoch, history), "
                      f"got {type(item).__name__}")


class _Monitor:
    """A metric to watch in state.logs, and what counts as better."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float = 0.0):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ConfigError(f"{owner}: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if min_delta < 0:
            raise ConfigError(f"{owner}: min_delta must be >= 0, got {min_delta}")
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, min_delta

    def value(self, logs: dict) -> float:
        if logs.get(self.monitor) is None:
            known = sorted(k for k, v in logs.items() if v is not None)
            raise ConfigError(f"{self.owner}: no metric {self.monitor!r} this epoch; known: "
                              f"{known} (val_* needs fit(val_loader=...))")
        return float(logs[self.monitor])

    def improves(self, value: float, best: float | None) -> bool:
        if best is None:
            return math.isfinite(value)
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


class EarlyStopping(Callback):
    """Stop when a metric has not improved for `patience` epochs.

    Args:
        monitor: a key of the epoch logs ("val_loss", "val_accuracy", "train_loss", ...).
        patience: epochs without improvement before stopping.
        min_delta: the least change that counts as an improvement.
        mode: "min", "max", or "auto" (max for accuracies, min otherwise).
        restore_best_weights: at the end of training, put back the weights of the best epoch.

    Example:
        >>> stopper = EarlyStopping("val_loss", patience=2)
        >>> stopper.mode, stopper.patience
        ('min', 2)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False):
        self._watch = _Monitor("EarlyStopping", monitor, mode, min_delta)
        if patience < 1:
            raise ConfigError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.monitor, self.mode, self.patience = monitor, self._watch.mode, patience
        self.restore_best_weights = restore_best_weights
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._best_weights: dict | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        value = self._watch.value(state.logs)
        if self._watch.improves(value, self.best):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self._best_weights = {k: v.detach().clone()
                                      for k, v in state.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = state.epoch
            state.stop(f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs "
                       f"(best {self.best:.6g} at epoch {self.best_epoch})")

    def on_train_end(self, state: TrainState) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            state.model.load_state_dict(self._best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


class ModelCheckpoint(Callback):
    """Write checkpoints during training, atomically, through gradflow's checkpoint files.

    Files in `dirpath`: `best.safetensors` (save_best_only) or `epoch-N.safetensors`
    (every epoch), and `last.safetensors` (save_last). Each holds the model, optimizer,
    scheduler and generator, with {"epoch", "step", monitor: value} as its extra;
    `gradflow.checkpoint.load_checkpoint(path, model, optimizer)` restores one.

    Args:
        dirpath: the folder to write into (created).
        monitor: the metric that decides "best".
        mode: "min", "max" or "auto".
        save_best_only: keep one file, rewritten when the metric improves.
        save_last: also write last.safetensors every epoch.

    Example:
        >>> checkpoint = ModelCheckpoint("runs/ckpt", monitor="val_accuracy", save_best_only=True)
        >>> checkpoint.mode
        'max'
    """

    def __init__(self, dirpath, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = False, save_last: bool = True):
        self._watch = _Monitor("ModelCheckpoint", monitor, mode)
        self.dirpath, self.monitor, self.mode = Path(dirpath), monitor, self._watch.mode
        self.save_best_only, self.save_last = save_best_only, save_last
        self.best: float | None = None
        self.best_path: Path | None = None

    def on_epoch_end(self, state: TrainState) -> None:
        from gradflow.train.state import write_state

        value = self._watch.value(state.logs) if self.save_best_only else state.logs.get(
            self.monitor)
        extra = {"epoch": state.epoch, "step": state.step, self.monitor: value}
        parts = (state.model, state.optimizer, state.scheduler)
        if self.save_best_only:
            if self._watch.improves(value, self.best):
                self.best = value
                self.best_path = write_state(self.dirpath / "best.safetensors", *parts, extra)
        else:
            write_state(self.dirpath / f"epoch-{state.epoch}.safetensors", *parts, extra)
        if self.save_last:
            write_state(self.dirpath / "last.safetensors", *parts, extra)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_path": str(self.best_path) if self.best_path else None}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_path = Path(state["best_path"]) if state["best_path"] else None


class LearningRateMonitor(Callback):
    """Put each parameter group's learning rate into the logs, per step or per epoch.

    The values appear as "lr" (group 0) and "lr/group{i}" (others) in `state.logs`, for
    the loggers listed after this callback, and in `self.values` as (step or epoch, [lrs]).

    Example:
        >>> LearningRateMonitor("step").logging_interval
        'step'
    """

    def __init__(self, logging_interval: str = "epoch"):
        if logging_interval not in ("step", "epoch"):
            raise ConfigError(f"LearningRateMonitor: logging_interval must be 'step' or "
                              f"'epoch', got {logging_interval!r}")
        self.logging_interval = logging_interval
        self.values: list[tuple[int, list[float]]] = []

    def _record(self, state: TrainState, when: int) -> None:
        rates = [float(group["lr"]) for group in state.optimizer.param_groups]
        self.values.append((when, rates))
        state.logs["lr"] = rates[0]
        for i, rate in enumerate(rates[1:], start=1):
            state.logs[f"lr/group{i}"] = rate

    def on_batch_end(self, state: TrainState) -> None:
        if self.logging_interval == "step":
            self._record(state, state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.logging_interval == "epoch":
            self._record(state, state.epoch)


class CSVLogger(Callback):
    """One CSV row per epoch of the epoch logs (the header from the first row).

    Args:
        path: the .csv file; appended to when resuming a run, rewritten otherwise.

    Example:
        >>> CSVLogger("runs/log.csv").path.name
        'log.csv'
    """

    def __init__(self, path):
        self.path = Path(path)
        self._columns: list[str] | None = None
        self._resumed = False

    def on_train_begin(self, state: TrainState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._resumed and self.path.exists():
            with self.path.open(newline="") as handle:
                self._columns = next(csv.reader(handle), None)
        else:
            self.path.write_text("")
            self._columns = None

    def on_epoch_end(self, state: TrainState) -> None:
        row = {k: v for k, v in state.logs.items() if isinstance(v, (int, float))}
        with self.path.open("a", newline="") as handle:
            if self._columns is None:
                self._columns = list(row)
                csv.writer(handle).writerow(self._columns)
            csv.DictWriter(handle, self._columns, extrasaction="ignore").writerow(row)

    def load_state_dict(self, state: dict) -> None:
        self._resumed = True


class TensorBoardLogger(Callback):
    """TensorBoard event files through tensorboardX (the `tensorboard` extra).

    Writes the epoch metrics as scalars (x axis: epoch), the loss of every step and
    the per-parameter gradient norms fit() records (x axis: step), and, every
    `histogram_every` epochs, a histogram of each parameter's weights and gradients.

    Args:
        logdir: the folder for the event files.
        histogram_every: epochs between histograms (0: none).

    Example:
        >>> TensorBoardLogger("runs/tb").histogram_every  # the folder is made at on_train_begin
        1
    """

    def __init__(self, logdir, histogram_every: int = 1):
        from gradflow.extras import require

        self._tensorboardx = require("tensorboardX", "TensorBoardLogger")
        self.logdir, self.histogram_every = Path(logdir), histogram_every
        self.writer = None

    def on_train_begin(self, state: TrainState) -> None:
        self.writer = self._tensorboardx.SummaryWriter(str(self.logdir))

    def on_batch_end(self, state: TrainState) -> None:
        self.writer.add_scalar("step/loss", state.logs["loss"], state.step)
        history = state.history
        if history["grad_norm_steps"] and history["grad_norm_steps"][-1] == state.step - 1:
            for name, values in history["grad_norms"].items():
                self.writer.add_scalar(f"grad_norm/{name}", values[-1], state.step - 1)
        if "lr" in state.logs:
            self.writer.add_scalar("step/lr", state.logs["lr"], state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        for key, value in state.logs.items():
            if isinstance(value, (int, float)) and key != "epoch":
                self.writer.add_scalar(f"epoch/{key}", value, state.epoch)
        if self.histogram_every and state.epoch % self.histogram_every == 0:
            for name, parameter in state.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", parameter.numpy(), state.epoch)
                if parameter.grad is not None:
                    self.writer.add_histogram(f"grads/{name}", parameter.grad.numpy(),
                                              state.epoch)
        self.writer.flush()

    def on_train_end(self, state: TrainState) -> None:
        if self.writer is not None:
            self.writer.close()

    @staticmethod
    def read_scalars(logdir) -> dict[str, list[tuple[int, float]]]:
        """The scalars of the event files in `logdir`: tag -> [(step, value), ...].

        Reads the TFRecord framing (length, CRC, event, CRC) and tensorboardX's
        Event protobuf, so plots can be drawn without TensorBoard itself.

        Example:
            >>> TensorBoardLogger.read_scalars("no/such/folder")
            {}
        """
        from gradflow.extras import require

        event_pb2 = require("tensorboardX", "reading event files").proto.event_pb2
        scalars: dict[str, list[tuple[int, float]]] = {}
        for path in sorted(Path(logdir).glob("events.out.tfevents.*")):
            data, offset = path.read_bytes(), 0
            while offset + 12 <= len(data):
                length = int.from_bytes(data[offset:offset + 8], "little")
                event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
                offset += 12 + length + 4
                for value in event.summary.value:
                    if value.HasField("simple_value"):
                        scalars.setdefault(value.tag, []).append((event.step,
                                                                  value.simple_value))
        return scalars
