"""Randomness for data pipelines that is the same with or without background workers.

A DataLoader derives one generator per batch (and one per sample it fetches) from a seed it
draws once per epoch, and makes it the *current* generator of the thread doing that work.
Transforms draw from `current_generator()`, so a batch is augmented identically whichever
worker builds it, in whatever order the workers finish.
"""

from __future__ import annotations

import contextlib
import threading

from gradflow import random as _random

_local = threading.local()
_MASK = (1 << 64) - 1


def current_generator() -> _random.Generator:
    """The generator a data transform should draw from: the one the DataLoader set for the
    batch or sample being built in this thread, else gradflow's default generator.

    Example:
        >>> class AddNoise:
        ...     def __call__(self, x):
        ...         return x + 0.1 * gf.randn(*x.shape, generator=current_generator())
    """
    generator = getattr(_local, "generator", None)
    return generator if generator is not None else _random.default_generator


@contextlib.contextmanager
def using(generator: _random.Generator | None):
    """Make `generator` the current one in this thread for the duration of the block."""
    previous = getattr(_local, "generator", None)
    _local.generator = generator
    try:
        yield generator
    finally:
        _local.generator = previous


def derive(seed: int, *path: int) -> _random.Generator:
    """A generator for the item at `path` (e.g. batch number, sample position) of an epoch.

    SplitMix64 mixing: nearby paths give unrelated seeds.
    """
    value = seed & _MASK
    for part in path:
        value = _mix((value + 0x9E3779B97F4A7C15 * (int(part) + 1)) & _MASK)
    return _random.Generator(value)


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)
