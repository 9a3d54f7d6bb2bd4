"""Dataset, TensorDataset and DataLoader: mini-batches on the training device."""

from __future__ import annotations

import math
import numbers
from typing import Callable, Iterator

import gradflow as gf
from gradflow.errors import ConfigError, DatasetError, IndexingError


class Dataset:
    """A map-style dataset: `len(ds)` items, `ds[i]` returns one (tuple of) item(s)."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Rows of tensors that share their first dimension (e.g. images and labels).

    Example:
        >>> ds = TensorDataset(gf.randn(10, 3), gf.arange(10))
        >>> x, y = ds[2]
    """

    def __init__(self, *tensors):
        if not tensors:
            raise DatasetError("TensorDataset needs at least one tensor")
        sizes = {t.shape[0] if t.ndim else None for t in tensors}
        if len(sizes) != 1 or None in sizes:
            raise DatasetError(
                f"TensorDataset: tensors must share their first dimension, got shapes "
                f"{[t.shape for t in tensors]}"
            )
        self.tensors = tuple(tensors)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def to(self, device) -> "TensorDataset":
        return TensorDataset(*(t.to(device) for t in self.tensors))

    def batch(self, indices: gf.Tensor) -> tuple:
        """Many rows at once (one gather per tensor instead of one per row)."""
        return tuple(t[indices] for t in self.tensors)


def default_collate(items: list):
    """Stack a list of samples (tensors, numbers, or tuples of them) into a batch."""
    first = items[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([item[k] for item in items]) for k in range(len(first)))
    if isinstance(first, gf.Tensor):
        return gf.stack(items)
    return gf.tensor(items)


class DataLoader:
    """Mini-batches from a dataset, optionally shuffled by gradflow's generator.

    The shuffle order comes from the counter-based generator, so it is the same on
    every device for the same seed. With `device=`, batches are delivered there.

    Args:
        dataset: a Dataset (a TensorDataset is gathered a batch at a time).
        batch_size: samples per batch (> 0).
        shuffle: reshuffle every epoch.
        drop_last: drop a final incomplete batch.
        generator: a gf.Generator for the shuffle; `seed` builds one.
        sampler: an iterable of indices, instead of shuffle.
        collate_fn: turns a list of samples into a batch.
        device: where batches are delivered.
        transform: a function applied to each batch (e.g. augmentation on the device).

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
        >>> for xb, yb in loader: ...
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: gf.Generator | None = None,
                 seed: int | None = None, sampler=None, collate_fn: Callable | None = None,
                 device=None, transform: Callable | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise DatasetError("DataLoader: the dataset is empty")
        if sampler is not None and shuffle:
            raise ConfigError("DataLoader: give either sampler or shuffle=True, not both")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator if generator is not None else (
            gf.Generator(seed) if seed is not None else None)
        self.sampler = sampler
        if isinstance(sampler, (list, tuple, range)):
            _check_indices(list(sampler), len(dataset))
        self.collate_fn = collate_fn or default_collate
        self.device = device
        self.transform = transform

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self) -> gf.Tensor:
        if self.sampler is not None:
            indices = list(self.sampler)
            _check_indices(indices, len(self.dataset))
            return gf.tensor(indices, dtype=gf.int64)
        n = len(self.dataset)
        if self.shuffle:
            return gf.randperm(n, generator=self.generator)
        return gf.arange(n)

    def __iter__(self) -> Iterator:
        order = self._order()
        n = order.shape[0]
        stop = n - n % self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset)
        if fast:
            order = order.to(self.dataset.tensors[0].device)
        else:
            order_list = order.tolist()
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, stop)
            if fast:
                batch = self.dataset.batch(order[start:end])
            else:
                batch = self.collate_fn([self.dataset[i] for i in order_list[start:end]])
            if self.device is not None:
                batch = _to_device(batch, self.device)
            if self.transform is not None:
                batch = self.transform(batch)
            yield batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state() if self.generator else None}

    def load_state_dict(self, state: dict) -> None:
        if state.get("generator") is not None:
            if self.generator is None:
                self.generator = gf.Generator(0)
            self.generator.set_state(state["generator"])


def _check_indices(indices: list, size: int) -> None:
    """Every sampler index an int in [-size, size), else a typed error naming the first bad one."""
    for position, index in enumerate(indices):
        if isinstance(index, gf.Tensor) and index.ndim == 0 and not index.dtype.is_floating_point:
            index = index.item()
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise ConfigError(f"DataLoader: sampler item {position} is {index!r}, not an integer "
                              "index; a sampler yields dataset indices (ints)")
        if not -size <= index < size:
            raise IndexingError(f"DataLoader: sampler item {position} is index {index}, out of "
                                f"range for a dataset of {size} samples")


def _to_device(batch, device):
    if isinstance(batch, gf.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch
