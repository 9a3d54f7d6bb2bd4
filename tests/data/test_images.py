"""CIFAR-10 (binary release) and ImageFolder (PNG, JPEG) on files the tests write."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile

import numpy as np
import pytest

import gradflow as gf
from gradflow.cli import main
from gradflow.data import CIFAR10, DataLoader, ImageFolder, cifar
from gradflow.data import transforms as T
from gradflow.errors import BackendUnavailableError, DatasetError, DatasetNotFoundError


def _records(count: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(count, -1)], axis=1).tobytes()
    return raw, images, labels


@pytest.fixture
def cifar_files(tmp_path):
    """A tiny binary release: 5 training batches of 4 records and a test batch of 6."""
    folder = tmp_path / "cifar" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    expected = {}
    for number, name in enumerate(cifar.TRAIN_FILES + cifar.TEST_FILES):
        raw, images, labels = _records(6 if name == "test_batch.bin" else 4, number)
        (folder / name).write_bytes(raw)
        expected[name] = images, labels
    return tmp_path / "cifar", expected


def test_cifar10_reads_the_binary_records(cifar_files):
    root, expected = cifar_files
    test = CIFAR10(root=root, train=False, normalize=False)
    images, labels = test.tensors
    assert images.shape == (6, 3, 32, 32) and images.dtype is gf.float32
    np.testing.assert_allclose(images.numpy(), expected["test_batch.bin"][0] / 255.0, rtol=1e-6)
    assert labels.tolist() == expected["test_batch.bin"][1].tolist() and labels.dtype is gf.int64
    train = CIFAR10(root=root, train=True, device="strict")
    assert len(train) == 20 and train.tensors[0].device == "strict"
    raw = np.concatenate([expected[name][0] for name in cifar.TRAIN_FILES]) / 255.0
    mean = np.array(cifar.MEAN)[:, None, None]
    std = np.array(cifar.STD)[:, None, None]
    np.testing.assert_allclose(train.tensors[0].numpy(), (raw - mean) / std, rtol=1e-5,
                               atol=1e-6)


def test_cifar10_damaged_and_missing_files(cifar_files, tmp_path):
    root, _ = cifar_files
    path = root / "cifar-10-batches-bin" / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="3073-byte"):
        CIFAR10(root=root, train=False)
    raw, _, _ = _records(1, 0)
    path.write_bytes(bytes([12]) + raw[1:])
    with pytest.raises(DatasetError, match="label 12"):
        CIFAR10(root=root, train=False)
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        CIFAR10(root=tmp_path / "empty", train=False)


def _archive(folder, members: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_cifar10_download_checks_the_md5(tmp_path, monkeypatch, cifar_files):
    root, expected = cifar_files
    members = {f"cifar-10-batches-bin/{name}": (root / "cifar-10-batches-bin" / name).read_bytes()
               for name in cifar.TRAIN_FILES + cifar.TEST_FILES}
    members["../escape.bin"] = b"never written"
    archive = tmp_path / "release.tar.gz"
    archive.write_bytes(_archive(tmp_path, members))
    monkeypatch.setattr(cifar, "URL", archive.as_uri())
    monkeypatch.setattr(cifar, "MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    target = tmp_path / "downloaded"
    test = CIFAR10(root=target, train=False, download=True, normalize=False)
    assert test.tensors[1].tolist() == expected["test_batch.bin"][1].tolist()
    assert not (tmp_path / "escape.bin").exists()
    assert sorted(p.name for p in target.iterdir()) == ["cifar-10-batches-bin"]
    monkeypatch.setattr(cifar, "MD5", "0" * 32)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        CIFAR10(root=tmp_path / "again", train=False, download=True)
    assert list((tmp_path / "again").iterdir()) == []


def test_gradflow_train_cifar10_cnn(cifar_files, tmp_path, capsys):
    root, _ = cifar_files
    code = main(["train", "--dataset", "cifar10", "--model", "cnn", "--data-dir", str(root),
                 "--epochs", "1", "--batch-size", "10", "--device", "cpu",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0
    assert "cifar10 cnn: test accuracy" in capsys.readouterr().out
    saved = gf.load(tmp_path / "run" / "model.safetensors")
    assert saved["extra"]["dataset"] == "cifar10"


# -- ImageFolder ----------------------------------------------------------------------------

@pytest.fixture
def image_tree(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    pixels = {}
    for name, kind in [("cat/a.png", "PNG"), ("cat/b.jpg", "JPEG"), ("dog/x.png", "PNG"),
                       ("dog/nested/y.jpeg", "JPEG"), ("dog/z.PNG", "PNG")]:
        path = tmp_path / "photos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        array = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        if kind == "JPEG":  # smooth, so that the lossy format keeps it close
            ramp = np.add.outer(np.arange(6) * 20, np.arange(8) * 12)
            array = np.stack([ramp, ramp[::-1], 255 - ramp], axis=-1).astype(np.uint8)
        image_module.fromarray(array).save(path, format=kind, quality=95)
        pixels[name] = array
    (tmp_path / "photos" / "dog" / "notes.txt").write_text("not an image")
    return tmp_path / "photos", pixels


def test_image_folder_png_and_jpeg(image_tree):
    root, pixels = image_tree
    data = ImageFolder(root)
    assert data.classes == ["cat", "dog"] and data.class_to_idx == {"cat": 0, "dog": 1}
    names = [str(p.relative_to(root)) for p in map(__import__("pathlib").Path,
                                                    (s[0] for s in data.samples))]
    assert names == ["cat/a.png", "cat/b.jpg", "dog/x.png", "dog/z.PNG", "dog/nested/y.jpeg"]
    assert data.targets == [0, 0, 1, 1, 1]
    image, label = data[0]
    assert image.shape == (3, 6, 8) and image.dtype is gf.float32 and label == 0
    np.testing.assert_allclose(image.numpy(), pixels["cat/a.png"].transpose(2, 0, 1) / 255.0,
                               rtol=1e-6)
    jpeg, _ = data[1]  # lossy: near, not equal
    assert np.abs(jpeg.numpy() - pixels["cat/b.jpg"].transpose(2, 0, 1) / 255.0).max() < 0.1


def test_image_folder_in_a_loader_with_workers_and_transforms(image_tree):
    root, _ = image_tree
    data = ImageFolder(root, transform=T.Compose([T.RandomResizedCrop(4),
                                                  T.RandomHorizontalFlip()]))
    batches = []
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=2, shuffle=True, seed=1, num_workers=workers)
        batches.append([(x.numpy(), y.tolist()) for x, y in loader])
    assert [y for _, y in batches[0]] == [y for _, y in batches[1]]
    for (a, _), (b, _) in zip(*batches):
        assert a.shape[1:] == (3, 4, 4)
        np.testing.assert_array_equal(a, b)


def test_image_folder_errors(image_tree, tmp_path, monkeypatch):
    root, _ = image_tree
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    data = ImageFolder(root)
    broken = [i for i, (path, _) in enumerate(data.samples) if path.endswith("broken.png")][0]
    with pytest.raises(DatasetError, match="broken.png"):
        data[broken]
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no images"):
        ImageFolder(tmp_path / "empty")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(BackendUnavailableError, match=r"`images` extra.*pillow"):
        ImageFolder(root)
