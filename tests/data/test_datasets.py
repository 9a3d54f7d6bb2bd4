"""gf.data.MNIST and Digits on files the test writes; `gradflow train --dataset mnist`."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

import gradflow as gf
from gradflow.cli import main
from gradflow.data import sources
from gradflow.data.idx import write_idx
from gradflow.errors import ConfigError


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Tiny MNIST IDX files in a folder, and sources.MNIST describing their checksums."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    counts = {"train": 40, "test": 10}
    arrays = {}
    for split, count in counts.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 10, count).astype(np.uint8)
    files = {}
    for key, resource in sources.MNIST.files.items():
        packed = write_idx(folder / resource.filename, arrays[key])
        raw = write_idx(tmp_path / resource.raw_filename, arrays[key])
        files[key] = sources.IdxResource(resource.filename, _md5(packed.read_bytes()),
                                         _md5(raw.read_bytes()))
    monkeypatch.setattr(sources, "MNIST", dataclasses.replace(sources.MNIST, **files))
    return folder, arrays


def test_mnist_is_the_data_set_not_its_descriptor(fake_mnist):
    folder, arrays = fake_mnist
    test = gf.data.MNIST(root=folder, train=False, normalize=False)
    images, labels = test.tensors
    assert images.shape == (10, 1, 28, 28) and images.dtype is gf.float32
    np.testing.assert_allclose(images.numpy()[:, 0], arrays["test_images"] / 255.0, rtol=1e-6)
    assert labels.tolist() == arrays["test_labels"].tolist() and labels.dtype is gf.int64
    train = gf.data.MNIST(root=folder, train=True, device="strict")
    assert len(train) == 40 and train.tensors[0].device == "strict"
    mean = float(train.tensors[0].numpy().mean())
    assert abs(mean - (arrays["train_images"].mean() / 255.0 - 0.1307) / 0.3081) < 1e-4


def test_gradflow_train_dataset_mnist(fake_mnist, tmp_path, capsys):
    folder, _ = fake_mnist
    out = tmp_path / "run"
    code = main(["train", "--dataset", "mnist", "--model", "mlp", "--data-dir", str(folder),
                 "--epochs", "1", "--batch-size", "20", "--device", "cpu", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    assert "mnist mlp: test accuracy" in capsys.readouterr().out
    saved = gf.load(out / "model.safetensors")
    assert saved["extra"]["dataset"] == "mnist" and saved["model"]["1.weight"].shape == (512, 784)


@pytest.mark.parametrize("fraction", [-0.5, 1.0, 1.5, float("nan"), "0.2", True])
def test_digits_rejects_a_test_fraction_outside_0_1(fraction):
    with pytest.raises(ConfigError, match="test_fraction") as info:
        gf.data.Digits(test_fraction=fraction)
    assert isinstance(info.value, ValueError) and repr(fraction) in str(info.value)


def test_digits_split_sizes():
    assert len(gf.data.Digits(train=False, test_fraction=0.5)) == 898
    assert len(gf.data.Digits(train=True, test_fraction=0.0)) == 1797
