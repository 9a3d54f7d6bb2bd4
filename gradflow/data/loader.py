"""Dataset, TensorDataset and DataLoader: mini-batches on the training device."""

from __future__ import annotations

import collections
import functools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import gradflow as gf
from gradflow.data.seeding import derive, using
from gradflow.errors import ConfigError, DatasetError, IndexingError


class Dataset:
    """A map-style dataset: `len(ds)` items, `ds[i]` returns one (tuple of) item(s)."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class IterableDataset(Dataset):
    """A stream of items: `iter(ds)` yields them (no indexing); the DataLoader batches them.

    Example:
        >>> class Lines(IterableDataset):
        ...     def __iter__(self):
        ...         yield from open("data.txt")
    """

    def __iter__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate it, it has no "
                        "items by index")


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

    def to(self, device) -> TensorDataset:
        return TensorDataset(*(t.to(device) for t in self.tensors))

    def batch(self, indices: gf.Tensor) -> tuple:
        """Many rows at once (one gather per tensor instead of one per row)."""
        return tuple(t[indices] for t in self.tensors)


def default_collate(items: list):
    """Stack a list of samples into a batch, recursively, as PyTorch's default_collate.

    Tensors are stacked (a new first dimension), NumPy arrays and numbers become tensors,
    strings stay a list; dicts, tuples, named tuples and lists are collated field by field
    into the same kind of container (a tuple for tuples).

    Example:
        >>> default_collate([{"x": gf.zeros(2), "y": 1}, {"x": gf.ones(2), "y": 0}])
        {'x': tensor(..., shape=(2, 2)), 'y': tensor([1, 0], ...)}
    """
    first = items[0]
    if isinstance(first, gf.Tensor):
        shapes = {tuple(item.shape) for item in items}
        if len(shapes) > 1:
            raise DatasetError(f"default_collate: cannot stack samples of shapes "
                               f"{sorted(shapes)} into one batch; make them one size (a "
                               "transform) or pass collate_fn")
        return gf.stack(items)
    if isinstance(first, (str, bytes)) or first is None:
        return list(items)
    if isinstance(first, Mapping):
        keys = set(first)
        for item in items:
            if not isinstance(item, Mapping) or set(item) != keys:
                other = sorted(map(str, item)) if isinstance(item, Mapping) else repr(item)
                raise DatasetError(f"default_collate: samples are dicts with different keys "
                                   f"({sorted(map(str, keys))} and {other})")
        collated = {key: default_collate([item[key] for item in items]) for key in first}
        try:
            return type(first)(collated)
        except TypeError:
            return collated
    if isinstance(first, (tuple, list)):
        sizes = {len(item) for item in items}
        if len(sizes) > 1:
            raise DatasetError(f"default_collate: samples have different lengths {sorted(sizes)}")
        fields = [default_collate([item[k] for item in items]) for k in range(len(first))]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # a named tuple
            return type(first)(*fields)
        return fields if isinstance(first, list) else tuple(fields)
    if hasattr(first, "__array__") or isinstance(first, numbers.Number):
        return gf.tensor(np.stack([np.asarray(item) for item in items]))
    raise DatasetError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                       "pass collate_fn")


class DataLoader:
    """Mini-batches from a dataset, optionally shuffled by gradflow's generator.

    The shuffle order comes from the counter-based generator, so it is the same on
    every device for the same seed. With `device=`, batches are delivered there.
    With `num_workers=N`, N background threads build the next batches (fetching,
    decoding, collating, moving to the device, transforming) while the model trains; the
    batches, their order and their augmentation are exactly those of `num_workers=0`:
    each batch and each fetched sample gets its own generator derived from one seed drawn
    per epoch, which transforms reach through `gradflow.data.current_generator()`.

    Args:
        dataset: a Dataset (a TensorDataset is gathered a batch at a time) or an
            IterableDataset (batched in the order it yields).
        batch_size: samples per batch (> 0).
        shuffle: reshuffle every epoch.
        drop_last: drop a final incomplete batch.
        generator: a gf.Generator for the shuffle and the augmentation seeds; `seed`
            builds one (default: gradflow's default generator).
        sampler: an iterable of indices, instead of shuffle.
        collate_fn: turns a list of samples into a batch.
        device: where batches are delivered.
        transform: a function applied to each batch (e.g. augmentation on the device).
        num_workers: background threads building batches (0: build them when asked).
        prefetch_factor: batches each worker may build ahead.
        pin_memory: accepted for PyTorch compatibility (no effect).

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
        >>> for xb, yb in loader: pass
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: gf.Generator | None = None,
                 seed: int | None = None, sampler=None, collate_fn: Callable | None = None,
                 device=None, transform: Callable | None = None, num_workers: int = 0,
                 prefetch_factor: int = 2, pin_memory: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for name, value, low in (("num_workers", num_workers, 0),
                                 ("prefetch_factor", prefetch_factor, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"DataLoader: {name} must be an int >= {low}, got {value!r}")
        self.iterable = isinstance(dataset, IterableDataset)
        if self.iterable and (shuffle or sampler is not None):
            raise ConfigError("DataLoader: an IterableDataset yields its own order; shuffle "
                              "and sampler do not apply to it")
        if not self.iterable and len(dataset) == 0:
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
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory

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

    def _epoch_seed(self) -> int | None:
        """One draw per epoch, only when something may be random (a transform, or samples
        fetched one by one, whose dataset may transform them): plain tensor batches
        consume nothing."""
        if self.transform is None and isinstance(self.dataset, TensorDataset):
            return None
        from gradflow.random import default_generator

        source = self.generator if self.generator is not None else default_generator
        return int(source.integers(0, 2**62, (1,), np, None)[0])

    def __iter__(self) -> Iterator:
        if self.iterable:
            seed = self._epoch_seed()
            jobs = (functools.partial(self._collated, samples, number, seed, None)
                    for number, samples in enumerate(self._stream_batches()))
        else:
            jobs = self._index_jobs()
        if self.num_workers == 0:
            for job in jobs:
                yield job()
        else:
            yield from _prefetch(jobs, self.num_workers, self.num_workers * self.prefetch_factor)

    def _stream_batches(self):
        samples = []
        for item in self.dataset:
            samples.append(item)
            if len(samples) == self.batch_size:
                yield samples
                samples = []
        if samples and not self.drop_last:
            yield samples

    def _index_jobs(self):
        order = self._order()
        seed = self._epoch_seed()  # after the shuffle: num_workers=0 draws the same
        n = order.shape[0]
        stop = n - n % self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset)
        if fast:
            order = order.to(self.dataset.tensors[0].device)
        else:
            order = order.tolist()
        for number, start in enumerate(range(0, stop, self.batch_size)):
            end = min(start + self.batch_size, stop)
            if fast:
                yield functools.partial(self._gathered, order[start:end], number, seed)
            else:
                yield functools.partial(self._collated, order[start:end], number, seed, start)

    def _gathered(self, indices: gf.Tensor, number: int, seed):
        with using(None if seed is None else derive(seed, number)):
            return self._finish(self.dataset.batch(indices))

    def _collated(self, items: list, number: int, seed, first):
        """A batch from indices (first: the position of the first one in the epoch) or,
        for a stream, from the samples themselves (first is None)."""
        samples = items
        if first is not None:
            samples = []
            for position, index in enumerate(items, start=first):
                with using(None if seed is None else derive(seed, 1 << 40, position)):
                    samples.append(self.dataset[index])
        with using(None if seed is None else derive(seed, number)):
            return self._finish(self.collate_fn(samples))

    def _finish(self, batch):
        if self.device is not None:
            batch = _to_device(batch, self.device)
        if self.transform is not None:
            batch = self.transform(batch)
        return batch

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state() if self.generator else None}

    def load_state_dict(self, state: dict) -> None:
        if state.get("generator") is not None:
            if self.generator is None:
                self.generator = gf.Generator(0)
            self.generator.set_state(state["generator"])


def _prefetch(jobs, workers: int, window: int):
    """Run jobs on `workers` threads, at most `window` ahead; yield their results in order."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gradflow-data")
    pending: collections.deque = collections.deque()
    try:
        for job in jobs:
            pending.append(pool.submit(job))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


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
