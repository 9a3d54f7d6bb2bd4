"""Datasets made of datasets: Subset, random_split, ConcatDataset, IterableDataset, ChainDataset."""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Iterable, Sequence

import gradflow as gf
from gradflow.data.loader import Dataset, IterableDataset
from gradflow.errors import ConfigError, IndexingError


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order.

    Example:
        >>> evens = Subset(dataset, range(0, len(dataset), 2))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = [_index(i, len(dataset), "Subset") for i in indices]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[_index(index, len(self), "Subset")]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[float], generator=None) -> list[Subset]:
    """Split a dataset into non-overlapping random subsets, as torch.utils.data.random_split.

    Args:
        dataset: the dataset.
        lengths: the subsets' sizes, summing to len(dataset); or fractions summing to 1
            (sizes rounded down, the remainder dealt one by one from the first subset on).
        generator: a gf.Generator for the permutation (default: gradflow's default one).

    Example:
        >>> train, val = random_split(dataset, [0.8, 0.2], generator=gf.Generator(42))
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or
                          not math.isfinite(v) or v < 0 for v in lengths):
        raise ConfigError(f"random_split: lengths must be non-negative numbers, got {lengths}")
    if all(isinstance(v, numbers.Integral) for v in lengths) and sum(lengths) != 1:
        sizes = [int(v) for v in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(v <= 1 for v in lengths):
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        raise ConfigError(f"random_split: lengths {lengths} are neither sizes summing to the "
                          f"dataset's {n} items nor fractions summing to 1")
    if sum(sizes) != n:
        raise ConfigError(f"random_split: the sizes {sizes} sum to {sum(sizes)}, but the "
                          f"dataset has {n} items")
    order = gf.randperm(n, generator=generator).tolist()
    subsets, start = [], 0
    for size in sizes:
        subsets.append(Subset(dataset, order[start:start + size]))
        start += size
    return subsets


class ConcatDataset(Dataset):
    """Several map-style datasets, one after another.

    Example:
        >>> train_a = TensorDataset(gf.zeros(3, 2), gf.zeros(3))
        >>> train_b = TensorDataset(gf.ones(5, 2), gf.ones(5))
        >>> both = ConcatDataset([train_a, train_b])
        >>> len(both) == len(train_a) + len(train_b)
        True
    """

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ConfigError("ConcatDataset: needs at least one dataset")
        for number, dataset in enumerate(self.datasets):
            if isinstance(dataset, IterableDataset):
                raise ConfigError(f"ConcatDataset: datasets[{number}] is an IterableDataset; "
                                  "chain those with ChainDataset")
        self.cumulative_sizes = []
        total = 0
        for dataset in self.datasets:
            total += len(dataset)
            self.cumulative_sizes.append(total)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        index = _index(index, len(self), "ConcatDataset")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class ChainDataset(IterableDataset):
    """Several iterable datasets, one after another (each iterated anew every epoch).

    Example:
        >>> from gradflow.data.loader import IterableDataset
        >>> class Numbers(IterableDataset):
        ...     def __init__(self, *items):
        ...         self.items = items
        ...     def __iter__(self):
        ...         yield from self.items
        >>> [n for n in ChainDataset([Numbers(1, 2), Numbers(3)])]
        [1, 2, 3]
    """

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = list(datasets)
        for number, dataset in enumerate(self.datasets):
            if not isinstance(dataset, IterableDataset):
                raise ConfigError(f"ChainDataset: datasets[{number}] is a "
                                  f"{type(dataset).__name__}, not an IterableDataset")

    def __iter__(self):
        for dataset in self.datasets:
            yield from dataset

    def __len__(self) -> int:
        return sum(len(dataset) for dataset in self.datasets)


def _index(index, size: int, owner: str) -> int:
    if isinstance(index, gf.Tensor) and index.ndim == 0 and not index.dtype.is_floating_point:
        index = index.item()
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise IndexingError(f"{owner}: index {index!r} is not an integer")
    if not -size <= index < size:
        raise IndexingError(f"{owner}: index {index} is out of range for {size} items")
    return int(index) % size if size else int(index)
