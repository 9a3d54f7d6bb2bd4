"""Ctrl-C during fit() saves a point from which a resumed run repeats the uninterrupted one."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import gradflow as gf
from gradflow import nn, optim
from gradflow.checkpoint import load_checkpoint, save_checkpoint
from gradflow.data import DataLoader, TensorDataset
from gradflow.train import fit
from gradflow.train.callbacks import Callback, EarlyStopping
from gradflow.train.interrupt import TrainingInterrupted

EPOCHS = 3  # 4 batches each: 12 steps


class StepLosses(Callback):
    def __init__(self, interrupt_at=None, interrupt_epoch_end=None):
        self.losses, self.interrupt_at, self.interrupt_epoch_end = [], interrupt_at, None
        self.interrupt_epoch_end = interrupt_epoch_end

    def on_batch_end(self, state):
        self.losses.append(state.logs["loss"])
        if self.interrupt_at is not None and state.step >= self.interrupt_at:
            self.interrupt_at = None
            raise KeyboardInterrupt  # as if Ctrl-C were pressed right after this step

    def on_epoch_end(self, state):
        if state.epoch == self.interrupt_epoch_end:
            raise KeyboardInterrupt


def _setup(device, seed):
    """Dropout (the default generator), a shuffle, Adam and a per-epoch scheduler: all
    the state an exact resumption must carry."""
    gf.manual_seed(0)
    x = gf.randn(48, 5, dtype=gf.float64, device=device)
    y = gf.randint(0, 3, (48,), device=device)
    gf.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 3))
    model.to(device, gf.float64)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=12, shuffle=True)
    return model, optimizer, scheduler, loader, DataLoader(TensorDataset(x, y), batch_size=24)


def _fit(device, callback, seed=0, **kwargs):
    model, optimizer, scheduler, loader, val = _setup(device, seed)
    stopper = EarlyStopping("val_loss", patience=50)
    history = fit(model, loader, optimizer, nn.CrossEntropyLoss(), EPOCHS, val_loader=val,
                  scheduler=scheduler, callbacks=[callback, stopper], log=None, plots=False,
                  grad_norm_every=3, **kwargs)
    return history, model, stopper


@pytest.mark.parametrize("where", [{"interrupt_at": 6}, {"interrupt_at": 8},
                                   {"interrupt_epoch_end": 1}])
def test_resume_repeats_the_uninterrupted_losses_exactly(float64_device, tmp_path, where):
    full = StepLosses()
    expected, expected_model, expected_stopper = _fit(float64_device, full)

    first = StepLosses(**where)
    with pytest.raises(TrainingInterrupted) as caught:
        _fit(float64_device, first, out_dir=tmp_path)
    assert caught.value.checkpoint == tmp_path / "interrupted.safetensors"
    assert caught.value.checkpoint.exists()

    # a fresh process's view: other initial weights, the generator elsewhere
    second = StepLosses()
    resumed, model, stopper = _fit(float64_device, second, seed=123,
                                   resume=tmp_path / "interrupted.safetensors")
    assert first.losses + second.losses == full.losses  # bit for bit, in float64
    for key in ("epoch", "train_loss", "val_loss", "lr", "grad_norm_steps"):
        assert resumed[key] == expected[key], key
    assert resumed["grad_norms"] == expected["grad_norms"]
    assert stopper.state_dict() == expected_stopper.state_dict()
    wanted = expected_model.state_dict().values()
    for (name, value), want in zip(model.state_dict().items(), wanted):
        assert (value.numpy() == want.numpy()).all(), name


def test_resume_under_mixed_precision_carries_the_loss_scale(tmp_path):
    """float16 autocast with a GradScaler: the scale (halved on overflow) is resumed too."""
    def run(callback, **kwargs):
        model, optimizer, scheduler, loader, _ = _setup("cpu", 0)
        model.to(gf.float32)
        x, y = loader.dataset.tensors
        loader.dataset = TensorDataset(x.to(gf.float32) * 200.0, y)  # gradients overflow float16
        return fit(model, loader, optimizer, nn.CrossEntropyLoss(), EPOCHS, scheduler=scheduler,
                   callbacks=[callback], log=None, plots=False, amp=True, amp_dtype=gf.float16,
                   **kwargs)

    full = StepLosses()
    expected = run(full)
    first = StepLosses(interrupt_at=5)
    with pytest.raises(TrainingInterrupted):
        run(first, out_dir=tmp_path)
    second = StepLosses()
    resumed = run(second, resume=tmp_path / "interrupted.safetensors")
    assert first.losses + second.losses == full.losses
    assert resumed["skipped_steps"] == expected["skipped_steps"]
    assert sum(expected["skipped_steps"]) > 0  # the scale did back off: there was state to carry


def test_resume_refuses_a_plain_checkpoint(tmp_path):
    model, optimizer, scheduler, loader, _ = _setup("cpu", 0)
    save_checkpoint(tmp_path / "plain.safetensors", model, optimizer, scheduler)
    with pytest.raises(gf.errors.ConfigError, match="not an interrupted-training checkpoint"):
        fit(model, loader, optimizer, nn.CrossEntropyLoss(), 1, scheduler=scheduler,
            resume=tmp_path / "plain.safetensors", log=None)


ROOT = Path(__file__).resolve().parents[2]
TRAIN = """
import sys, time
import gradflow as gf
from gradflow import nn, optim
from gradflow.data import DataLoader, TensorDataset
from gradflow.train import fit
from gradflow.train.callbacks import Callback

class Slow(Callback):
    def on_batch_end(self, state):
        if state.step == 3:
            print("ready", flush=True)
        if state.step >= 3:
            time.sleep(0.05)

gf.manual_seed(0)
x, y = gf.randn(400, 4), gf.randint(0, 2, (400,))
model = nn.Linear(4, 2)
fit(model, DataLoader(TensorDataset(x, y), batch_size=4), optim.SGD(model.parameters(), lr=0.1),
    nn.CrossEntropyLoss(), 5, out_dir=sys.argv[1], callbacks=[Slow()], plots=False, log=print)
"""


def test_sigint_finishes_the_step_and_saves(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", TRAIN, str(tmp_path)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert "interrupted at epoch 1" in out and "interrupted.safetensors" in out
    assert (tmp_path / "interrupted.safetensors").exists()
    extra = load_checkpoint(tmp_path / "interrupted.safetensors", nn.Linear(4, 2))
    assert extra["batch"] == extra["step"] >= 3  # whole steps only
