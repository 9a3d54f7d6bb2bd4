"""Callbacks: EarlyStopping, ModelCheckpoint, LearningRateMonitor, CSVLogger, TensorBoardLogger."""

import csv
import sys

import pytest

import gradflow as gf
from gradflow import nn, optim
from gradflow.checkpoint import load_checkpoint
from gradflow.data import DataLoader, TensorDataset
from gradflow.errors import ConfigError
from gradflow.train import fit
from gradflow.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    TensorBoardLogger,
)


def _problem(device="cpu", lr=0.1):
    gf.manual_seed(0)
    x = gf.randn(32, 3, device=device)
    y = (x[:, 0] > 0).to(gf.int64)
    model = nn.Linear(3, 2).to(device)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    return model, loader, optim.SGD(model.parameters(), lr=lr)


def _fit(model, loader, opt, epochs, callbacks, **kwargs):
    kwargs = {"log": None, "plots": False, **kwargs}
    return fit(model, loader, opt, nn.CrossEntropyLoss(), epochs, val_loader=loader,
               callbacks=callbacks, **kwargs)


class ScriptedValLoss(Callback):
    """Replaces val_loss by a scripted sequence, so when EarlyStopping fires is known."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, state):
        state.logs["val_loss"] = self.values[state.epoch - 1]


def test_early_stopping_stops_after_patience_and_returns_the_history(device):
    model, loader, opt = _problem(device)
    stopper = EarlyStopping("val_loss", patience=2)
    history = _fit(model, loader, opt, 10, [ScriptedValLoss([3, 2, 2.5, 2.1, 1, 0, 0]), stopper])
    assert history["epoch"] == [1, 2, 3, 4]
    assert stopper.best == 2 and stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    assert "has not improved for 2 epochs" in history.stop_reason


def test_early_stopping_min_delta_and_max_mode():
    model, loader, opt = _problem()
    stopper = EarlyStopping("val_loss", patience=1, min_delta=0.5)
    history = _fit(model, loader, opt, 10, [ScriptedValLoss([3, 2.7, 1]), stopper])
    assert history["epoch"] == [1, 2]  # 2.7 is not 0.5 better than 3
    assert EarlyStopping("val_accuracy").mode == "max"
    with pytest.raises(ConfigError, match="mode"):
        EarlyStopping(mode="lowest")


def test_early_stopping_restores_the_best_weights():
    model, loader, opt = _problem()
    weights = []

    class Snapshot(Callback):
        def on_epoch_end(self, state):
            weights.append(model.weight.numpy().copy())

    stopper = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    _fit(model, loader, opt, 10, [ScriptedValLoss([3, 1, 2, 2, 2]), Snapshot(), stopper])
    assert len(weights) == 4
    assert (model.weight.numpy() == weights[1]).all()
    assert not (weights[1] == weights[3]).all()


def test_a_missing_metric_is_named_with_the_known_ones():
    model, loader, opt = _problem()
    with pytest.raises(ConfigError, match="no metric 'val_f1'.*train_loss"):
        _fit(model, loader, opt, 1, [EarlyStopping("val_f1")])


def test_model_checkpoint_keeps_the_best_and_the_last(tmp_path):
    model, loader, opt = _problem()
    saver = ModelCheckpoint(tmp_path / "ck", monitor="val_loss", save_best_only=True)
    weights = []

    class Snapshot(Callback):
        def on_epoch_end(self, state):
            weights.append(model.weight.numpy().copy())

    _fit(model, loader, opt, 4, [ScriptedValLoss([3, 1, 2, 2]), Snapshot(), saver])
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["best.safetensors",
                                                                    "last.safetensors"]
    assert saver.best == 1 and saver.best_path == tmp_path / "ck" / "best.safetensors"
    fresh = nn.Linear(3, 2)
    extra = load_checkpoint(saver.best_path, fresh)
    assert extra["epoch"] == 2 and extra["val_loss"] == 1
    assert (fresh.weight.numpy() == weights[1]).all()
    assert load_checkpoint(tmp_path / "ck" / "last.safetensors", fresh)["epoch"] == 4
    assert (fresh.weight.numpy() == weights[3]).all()


def test_model_checkpoint_every_epoch_leaves_no_temporary_files(tmp_path):
    model, loader, opt = _problem()
    _fit(model, loader, opt, 2, [ModelCheckpoint(tmp_path, save_last=False)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-1.safetensors",
                                                          "epoch-2.safetensors"]


def test_learning_rate_monitor_and_csv_logger(tmp_path):
    model, loader, opt = _problem()
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    monitor = LearningRateMonitor("epoch")
    _fit(model, loader, opt, 3, [monitor, CSVLogger(tmp_path / "log.csv")], scheduler=scheduler)
    assert monitor.values == [(1, [0.05]), (2, [0.025]), (3, [0.0125])]
    with (tmp_path / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["lr"]) for r in rows] == [0.05, 0.025, 0.0125]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(rows[0])
    steps = LearningRateMonitor("step")
    _fit(model, loader, opt, 1, [steps])
    assert [s for s, _ in steps.values] == [1, 2, 3, 4]


def test_plain_functions_still_work_as_callbacks():
    model, loader, opt = _problem()
    seen = []
    _fit(model, loader, opt, 2, [lambda epoch, history: seen.append(epoch)])
    assert seen == [1, 2]
    with pytest.raises(ConfigError, match="callbacks must be"):
        _fit(model, loader, opt, 1, [3])


def test_tensorboard_logger_writes_scalars_and_histograms(tmp_path):
    pytest.importorskip("tensorboardX")
    model, loader, opt = _problem()
    _fit(model, loader, opt, 2, [TensorBoardLogger(tmp_path)], grad_norm_every=2)
    scalars = TensorBoardLogger.read_scalars(tmp_path)
    assert {"epoch/train_loss", "epoch/val_loss", "step/loss", "grad_norm/weight"} <= set(scalars)
    assert [step for step, _ in scalars["step/loss"]] == list(range(1, 9))
    assert [step for step, _ in scalars["grad_norm/weight"]] == [0, 2, 4, 6]
    assert [step for step, _ in scalars["epoch/train_loss"]] == [1, 2]
    events = b"".join(p.read_bytes() for p in tmp_path.glob("events.out.tfevents.*"))
    assert b"weights/weight" in events and b"grads/bias" in events  # the histograms


def test_tensorboard_logger_names_the_extra_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(gf.errors.MissingExtraError, match="'tensorboard' extra"):
        TensorBoardLogger("runs/x")


def test_model_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A crash while last.safetensors is rewritten leaves the previous one whole."""
    from gradflow import io

    model, loader, opt = _problem()
    real_replace = io.os.replace

    class CrashOnEpoch2(Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 2:
                def crash(source, target):
                    raise OSError("disk gone")
                monkeypatch.setattr(io.os, "replace", crash)

    with pytest.raises(OSError, match="disk gone"):
        _fit(model, loader, opt, 2, [CrashOnEpoch2(), ModelCheckpoint(tmp_path, save_last=True)])
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert load_checkpoint(tmp_path / "last.safetensors", nn.Linear(3, 2))["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
