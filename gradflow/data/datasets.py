"""Image classification datasets as TensorDatasets: Fashion-MNIST, MNIST and the embedded digits."""

from __future__ import annotations

import numpy as np

import gradflow as gf
from gradflow.data import sources as _sources
from gradflow.data.loader import TensorDataset
from gradflow.errors import ConfigError

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


def _image_dataset(images: np.ndarray, labels: np.ndarray, scale: float, mean: float, std: float,
                   device, normalize: bool) -> TensorDataset:
    x = images.astype(np.float32)[:, None, :, :] / scale
    if normalize:
        x = (x - mean) / std
    return TensorDataset(gf.tensor(x, device=device),
                         gf.tensor(labels.astype(np.int64), device=device))


def FashionMNIST(root=None, train: bool = True, download: bool = False, device=None,
                 normalize: bool = True, *, verify: bool = True) -> TensorDataset:
    """Fashion-MNIST as (N, 1, 28, 28) float32 images and int64 labels.

    Args:
        root: folder with the IDX files; by default the standard places are searched,
            including Debian's dataset-fashion-mnist package and ~/.cache/gradflow.
        train: the 60,000 training images, else the 10,000 test images.
        download: fetch the files (checksummed) when they are not found.
        device: where the tensors live.
        normalize: scale to [0, 1] then standardise with the training set's mean and std.
        verify: check the files' MD5 against the published release.

    Example:
        >>> test = FashionMNIST(train=False)
        >>> len(test)
        10000
    """
    images, labels = _sources.load_images_labels(_sources.FASHION_MNIST, train=train, root=root,
                                                 download=download, verify=verify)
    return _image_dataset(images, labels, 255.0, 0.2860, 0.3530, device, normalize)


def MNIST(root=None, train: bool = True, download: bool = False, device=None,
          normalize: bool = True, *, verify: bool = True) -> TensorDataset:
    """MNIST digits as (N, 1, 28, 28) float32 images and int64 labels (see FashionMNIST).

    Example:
        >>> test = MNIST(root="data", train=False)  # doctest: +SKIP
        >>> test.tensors[0].shape  # doctest: +SKIP
        (10000, 1, 28, 28)
    """
    # NOTE: the descriptor is looked up in `sources` on each call: a module-level import of
    # sources.MNIST here would be shadowed by this function's own name (it once was).
    images, labels = _sources.load_images_labels(_sources.MNIST, train=train, root=root,
                                                 download=download, verify=verify)
    return _image_dataset(images, labels, 255.0, 0.1307, 0.3081, device, normalize)


def Digits(train: bool = True, test_fraction: float = 0.2, seed: int = 0, device=None,
           normalize: bool = True) -> TensorDataset:
    """The embedded 8x8 digits (1,797 images) with a fixed split (80/20, seed 0 by default).

    The split permutation comes from gradflow's generator, so it is the same everywhere.

    Example:
        >>> len(Digits(train=False))
        359
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
            0.0 <= test_fraction < 1.0):
        raise ConfigError(f"Digits: test_fraction must be a number in [0, 1) (the share of the "
                          f"1,797 images held out for testing), got {test_fraction!r}")
    images, labels = _sources.load_digits()
    order = gf.randperm(len(labels), generator=gf.Generator(seed)).numpy()
    n_test = int(round(len(labels) * test_fraction))
    chosen = order[n_test:] if train else order[:n_test]
    return _image_dataset(images[chosen], labels[chosen], 16.0, 0.30, 0.38, device, normalize)
