"""CIFAR-10 from its binary release: fixed-size records read with NumPy, never pickle.

The release (cifar-10-binary.tar.gz) holds cifar-10-batches-bin/data_batch_1.bin ... _5.bin
(training) and test_batch.bin: records of 1 label byte and 3072 pixel bytes (the 1024 red,
then green, then blue values of a 32x32 image, row by row).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

import gradflow as gf
from gradflow.data import sources
from gradflow.data.loader import TensorDataset
from gradflow.errors import DatasetError, DatasetNotFoundError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published with the release
FOLDER = "cifar-10-batches-bin"
NAME = "cifar10"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
RECORD = 1 + 3 * 32 * 32
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def CIFAR10(root=None, train: bool = True, download: bool = False, device=None,  # noqa: N802
            normalize: bool = True) -> TensorDataset:
    """CIFAR-10 as (N, 3, 32, 32) float32 images and int64 labels (classes in `CLASSES`).

    Args:
        root: a folder holding cifar-10-batches-bin/ (or its .bin files); by default
            $GRADFLOW_DATA/cifar10, then ~/.cache/gradflow/cifar10 and ./data/cifar10.
        train: the 50,000 training images, else the 10,000 test images.
        download: fetch the release (MD5-checked) into root or the cache when not found.
        device: where the tensors live.
        normalize: scale to [0, 1] then standardise each channel with the training set's
            mean and std.

    Example:
        >>> test = CIFAR10(root="data", train=False)  # doctest: +SKIP
        >>> test.tensors[0].shape  # doctest: +SKIP
        (10000, 3, 32, 32)
    """
    images, labels = load_cifar10(root, train=train, download=download)
    x = images.astype(np.float32) / np.float32(255.0)
    if normalize:
        x = (x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[
            :, None, None]
    return TensorDataset(gf.tensor(x, device=device), gf.tensor(labels, device=device))


def load_cifar10(root=None, train: bool = True, download: bool = False) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """One split as uint8 images (N, 3, 32, 32) and int64 labels (N,), validated."""
    names = TRAIN_FILES if train else TEST_FILES
    folder = _locate(root, names)
    if folder is None:
        if not download:
            tried = "\n".join(f"  {path}" for path in _roots(root))
            raise DatasetNotFoundError(
                f"CIFAR-10 not found: no folder holds {', '.join(names)}. Looked in:\n{tried}\n"
                f"To get it: pass download=True (CLI: --download) to fetch {URL} into "
                f"{_roots(root)[0]}, or point root= (CLI: --data-dir) at a folder holding "
                f"{FOLDER}/")
        folder = fetch(_roots(root)[0])
    arrays = [_read(folder / name) for name in names]
    images = np.concatenate([a[0] for a in arrays])
    labels = np.concatenate([a[1] for a in arrays])
    return images, labels


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0 or data.size % RECORD:
        raise DatasetError(f"{path}: {data.size} bytes is not a whole number of "
                           f"{RECORD}-byte CIFAR-10 records (damaged or another file); "
                           "delete it and download again")
    records = data.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        bad = int(np.argmax(labels >= len(CLASSES)))
        raise DatasetError(f"{path}: record {bad} has label {labels[bad]}, but CIFAR-10 has "
                           f"{len(CLASSES)} classes (damaged or another file)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def _roots(root) -> list[Path]:
    if root is not None:
        root = Path(root).expanduser()
        return [root, root / NAME]
    found = []
    if os.environ.get("GRADFLOW_DATA"):
        found.append(Path(os.environ["GRADFLOW_DATA"]).expanduser() / NAME)
    found += [sources.default_cache_dir(NAME), Path.cwd() / "data" / NAME]
    return list(dict.fromkeys(found))


def _locate(root, names) -> Path | None:
    for base in _roots(root):
        for folder in (base / FOLDER, base):
            if all((folder / name).is_file() for name in names):
                return folder
    return None


def fetch(root: str | os.PathLike) -> Path:
    """Download the release into root, check its MD5, unpack the .bin files; returns their
    folder. A damaged download is deleted and raises DatasetError; nothing partial is left."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".cifar-10-binary.", suffix=".part")
    archive = Path(temporary)
    try:
        digest = sources._md5()
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(URL, timeout=60) as response:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
            except (urllib.error.URLError, OSError) as exc:
                raise DatasetNotFoundError(f"could not download {URL}: "
                                           f"{getattr(exc, 'reason', None) or exc}") from exc
        if digest.hexdigest() != MD5:
            raise DatasetError(f"{URL}: checksum mismatch: expected md5 {MD5}, got "
                               f"{digest.hexdigest()}; the download is damaged or the server "
                               "holds another file; it was not kept")
        return _unpack(archive, root)
    finally:
        archive.unlink(missing_ok=True)


def _unpack(archive: Path, root: Path) -> Path:
    """Write the known .bin files of the archive (nothing else, whatever its member names)."""
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    wanted = {f"{FOLDER}/{name}" for name in TRAIN_FILES + TEST_FILES}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name in wanted:
                source = tar.extractfile(member)
                target = folder / Path(member.name).name
                partial = target.with_name(f".{target.name}.part")
                with source, open(partial, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                os.replace(partial, target)
    missing = sorted(name for name in TRAIN_FILES + TEST_FILES if not (folder / name).is_file())
    if missing:
        raise DatasetError(f"{URL}: the archive lacks {missing}")
    return folder
