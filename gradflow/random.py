"""Counter-based random numbers (Philox4x32-10) written with array-API calls only.

The same seed and the same sequence of calls give bit-identical words on every
backend and device: NumPy, CuPy, array-api-strict and its simulated devices
(including ``no_float64``). All integer work is done on uint64 arrays holding
32-bit values, with every product and sum masked explicitly, so nothing relies on
wrap-around. Floats appear only when a float result is asked for.

Every call consumes a whole number of Philox blocks (4 words each). Block ``i``
of a call is encrypted with counter ``offset + i`` (a 128-bit number spread over
the four counter words, low word first) and key ``(seed & 0xFFFFFFFF, seed >> 32)``;
the generator's offset then advances past the blocks used, so no two calls share
a counter.

What is bit-identical across backends: ``random_bits``, ``uniform``,
``integers``, ``permutation`` and ``bernoulli`` (pure integer work, then exact
conversions). ``normal`` applies the backend's ``log``, ``sqrt``, ``cos`` and
``sin`` to those uniforms, so it is identical wherever those functions agree
(NumPy and array-api-strict) and may differ in the last bit elsewhere (CuPy).
"""

from __future__ import annotations

import math
import operator
import threading
from typing import Any

from gradflow.errors import ConfigError, DTypeError

__all__ = [
    "ALGORITHM",
    "Generator",
    "default_generator",
    "get_rng_state",
    "manual_seed",
    "set_rng_state",
]

ALGORITHM = "philox4x32-10"

_MASK32 = 0xFFFFFFFF
_PHILOX_M0 = 0xD2511F53
_PHILOX_M1 = 0xCD9E8D57
_PHILOX_W0 = 0x9E3779B9
_PHILOX_W1 = 0xBB67AE85
_ROUNDS = 10
_WORDS_PER_BLOCK = 4
_SEED_LIMIT = 2**64
_COUNTER_LIMIT = 2**128

Shape = int | tuple[int, ...]


def _philox4x32(counter_words: Any, key_words: Any, xp: Any) -> tuple[Any, Any, Any, Any]:
    """Philox4x32-10 on uint64 arrays that hold 32-bit words.

    ``counter_words`` is four same-shape uint64 arrays (values < 2**32), one per
    counter word; ``key_words`` is two Python ints. Returns the four output words
    as uint64 arrays with values < 2**32.
    """
    c0, c1, c2, c3 = counter_words
    k0, k1 = (operator.index(word) & _MASK32 for word in key_words)
    for round_index in range(_ROUNDS):
        if round_index:
            k0 = (k0 + _PHILOX_W0) & _MASK32
            k1 = (k1 + _PHILOX_W1) & _MASK32
        # NOTE: a 32x32-bit product is below 2**64, so uint64 holds it exactly;
        # high and low halves come from a shift and a mask, never a wrap.
        product0 = c0 * _PHILOX_M0
        product1 = c2 * _PHILOX_M1
        c0, c1, c2, c3 = (
            (product1 >> 32) ^ c1 ^ k0,
            product1 & _MASK32,
            (product0 >> 32) ^ c3 ^ k1,
            product0 & _MASK32,
        )
    return c0, c1, c2, c3


def _counter_words(offset: int, blocks: int, xp: Any, device: Any) -> tuple[Any, Any, Any, Any]:
    """The four counter words of blocks ``offset .. offset + blocks - 1``."""
    index = xp.arange(blocks, dtype=xp.uint64, device=device)
    if offset + blocks <= 2**32:
        zeros = xp.zeros_like(index)
        return index + offset, zeros, zeros, zeros
    # NOTE: the 128-bit sum offset + index is carried 32 bits at a time.
    total = index + (offset & _MASK32)
    c0 = total & _MASK32
    total = (total >> 32) + ((offset >> 32) & _MASK32)
    c1 = total & _MASK32
    total = (total >> 32) + ((offset >> 64) & _MASK32)
    c2 = total & _MASK32
    c3 = ((total >> 32) + (offset >> 96)) & _MASK32
    return c0, c1, c2, c3


def _normalize_seed(seed: Any) -> int:
    if isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got the bool {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise ConfigError(
            f"seed must be an integer, got {seed!r} of type {type(seed).__name__}"
        ) from None
    if not -(2**63) <= value < _SEED_LIMIT:
        raise ConfigError(
            f"seed must lie in [-2**63, 2**64), got {value}; negative seeds are taken modulo 2**64"
        )
    return value % _SEED_LIMIT


def _size_of(shape: Shape) -> tuple[tuple[int, ...], int]:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    dims = tuple(operator.index(dim) for dim in dims)
    if any(dim < 0 for dim in dims):
        raise ConfigError(f"shape must have non-negative sizes, got {dims}")
    return dims, math.prod(dims)


def _check_dtype_on_device(xp: Any, device: Any, dtype: Any) -> None:
    info_function = getattr(xp, "__array_namespace_info__", None)
    if info_function is None:
        return
    supported = info_function().dtypes(device=device)
    if not any(dtype == candidate for candidate in supported.values()):
        raise DTypeError(f"device {device!r} of {xp.__name__} does not support dtype {dtype}")


def _float_dtype(xp: Any, device: Any, dtype: Any) -> Any:
    dtype = xp.float32 if dtype is None else dtype
    if dtype != xp.float32 and dtype != xp.float64:
        raise DTypeError(f"random floats come as float32 or float64, not {dtype}")
    _check_dtype_on_device(xp, device, dtype)
    return dtype


class Generator:
    """A Philox4x32-10 generator: a 64-bit seed (the key) and a block offset (the counter).

    Args:
        seed: an integer in [-2**63, 2**64); negative seeds are taken modulo 2**64.

    Example:
        >>> import array_api_compat.numpy as xp
        >>> generator = Generator(seed=7)
        >>> generator.uniform((2, 3), xp).shape
        (2, 3)
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = _normalize_seed(seed)
        self._offset = 0

    def __repr__(self) -> str:
        return f"Generator(seed={self._seed}, offset={self._offset})"

    def manual_seed(self, seed: int) -> Generator:
        """Set the seed and rewind the counter to 0.

        Args:
            seed: an integer in [-2**63, 2**64); negative seeds are taken modulo 2**64.

        Returns:
            This generator, for chaining.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> first = Generator().manual_seed(3).random_bits(4, xp)
            >>> bool(xp.all(first == Generator(3).random_bits(4, xp)))
            True
        """
        seed = _normalize_seed(seed)
        with self._lock:
            self._seed = seed
            self._offset = 0
        return self

    @property
    def seed(self) -> int:
        """The seed in [0, 2**64)."""
        return self._seed

    def get_state(self) -> dict:
        """The generator state as a JSON-serialisable dict.

        Returns:
            ``{"algorithm": "philox4x32-10", "seed": seed, "offset": blocks_used}``.

        Example:
            >>> state = Generator(5).get_state()
            >>> state["seed"], state["offset"]
            (5, 0)
        """
        with self._lock:
            return {"algorithm": ALGORITHM, "seed": self._seed, "offset": self._offset}

    def set_state(self, state: dict) -> None:
        """Restore a state returned by ``get_state``.

        Args:
            state: a dict with exactly the keys ``algorithm``, ``seed`` and ``offset``.

        Raises:
            ValueError: (``ConfigError``) when the state is not of that form.

        Example:
            >>> generator = Generator(1)
            >>> generator.set_state({"algorithm": "philox4x32-10", "seed": 2, "offset": 9})
            >>> generator.get_state()["offset"]
            9
        """
        if not isinstance(state, dict):
            raise ConfigError(f"generator state must be a dict, got {type(state).__name__}")
        expected = {"algorithm", "seed", "offset"}
        if set(state) != expected:
            raise ConfigError(
                f"generator state must have the keys {sorted(expected)}, got {sorted(state)}"
            )
        if state["algorithm"] != ALGORITHM:
            raise ConfigError(
                f"generator state is for algorithm {state['algorithm']!r}, expected {ALGORITHM!r}"
            )
        seed, offset = state["seed"], state["offset"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_LIMIT:
            raise ConfigError(f"generator state seed must be an int in [0, 2**64), got {seed!r}")
        if (
            isinstance(offset, bool)
            or not isinstance(offset, int)
            or not 0 <= offset < _COUNTER_LIMIT
        ):
            raise ConfigError(
                f"generator state offset must be an int in [0, 2**128), got {offset!r}"
            )
        with self._lock:
            self._seed = seed
            self._offset = offset

    def _reserve(self, blocks: int) -> tuple[int, int]:
        with self._lock:
            start = self._offset
            if start + blocks > _COUNTER_LIMIT:
                raise ConfigError("the 128-bit Philox counter is exhausted; reseed the generator")
            self._offset = start + blocks
            return self._seed, start

    def _words(self, count: int, xp: Any, device: Any) -> Any:
        """``count`` fresh 32-bit words as a uint64 array, in counter order."""
        blocks = -(-count // _WORDS_PER_BLOCK)
        seed, offset = self._reserve(blocks)
        key = (seed & _MASK32, seed >> 32)
        words = _philox4x32(_counter_words(offset, blocks, xp, device), key, xp)
        return xp.reshape(xp.stack(words, axis=1), (-1,))[:count]

    def _pairs(self, count: int, xp: Any, device: Any) -> tuple[Any, Any]:
        """Two arrays of ``count`` words each, taken as consecutive word pairs."""
        pairs = xp.reshape(self._words(2 * count, xp, device), (count, 2))
        return pairs[:, 0], pairs[:, 1]

    def _unit_uniform(self, count: int, xp: Any, device: Any, dtype: Any) -> Any:
        if dtype == xp.float32:
            # NOTE: the top 24 bits fill a float32 mantissa exactly: k * 2**-24 < 1.
            top24 = self._words(count, xp, device) >> 8
            return xp.astype(top24, xp.float32) * 2.0**-24
        high, low = self._pairs(count, xp, device)
        # NOTE: 27 + 26 = 53 bits fill a float64 mantissa exactly: k * 2**-53 < 1.
        top53 = ((high >> 5) << 26) | (low >> 6)
        return xp.astype(top53, xp.float64) * 2.0**-53

    def random_bits(self, n: int, xp: Any, device: Any = None) -> Any:
        """``n`` random 32-bit words.

        Args:
            n: how many words.
            xp: the array namespace to build them with.
            device: the device of ``xp`` to put them on (``None``: its default).

        Returns:
            A uint32 array of shape ``(n,)``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> Generator(0).random_bits(4, xp).dtype
            dtype('uint32')
        """
        _, count = _size_of(n)
        return xp.astype(self._words(count, xp, device), xp.uint32)

    def uniform(
        self,
        shape: Shape,
        xp: Any,
        device: Any = None,
        dtype: Any = None,
        low: float = 0.0,
        high: float = 1.0,
    ) -> Any:
        """Uniform floats in ``[low, high)``.

        float32 values are ``k * 2**-24`` for the top 24 bits ``k`` of one word;
        float64 values take 53 bits from two words. Values scaled to another
        interval are rounded, so they may reach ``high`` in rare cases.

        Args:
            shape: the output shape.
            xp: the array namespace.
            device: the device of ``xp`` (``None``: its default).
            dtype: ``xp.float32`` (default) or ``xp.float64``.
            low: the lower bound, included.
            high: the upper bound, excluded.

        Returns:
            An array of ``shape`` and ``dtype``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> values = Generator(0).uniform(1000, xp, low=-1.0, high=1.0)
            >>> bool(xp.all((values >= -1.0) & (values < 1.0)))
            True
        """
        dtype = _float_dtype(xp, device, dtype)
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"uniform needs finite low < high, got low={low}, high={high}")
        dims, size = _size_of(shape)
        values = self._unit_uniform(size, xp, device, dtype)
        if (low, high) != (0.0, 1.0):
            values = values * (high - low) + low
        return xp.reshape(values, dims)

    def normal(
        self,
        shape: Shape,
        xp: Any,
        device: Any = None,
        dtype: Any = None,
        mean: float = 0.0,
        std: float = 1.0,
    ) -> Any:
        """Normal floats with the given mean and standard deviation (Box-Muller).

        Args:
            shape: the output shape.
            xp: the array namespace.
            device: the device of ``xp`` (``None``: its default).
            dtype: ``xp.float32`` (default) or ``xp.float64``.
            mean: the mean.
            std: the standard deviation, non-negative.

        Returns:
            An array of ``shape`` and ``dtype``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> Generator(0).normal((3, 4), xp, std=0.02).shape
            (3, 4)
        """
        dtype = _float_dtype(xp, device, dtype)
        mean, std = float(mean), float(std)
        if not (math.isfinite(mean) and math.isfinite(std) and std >= 0.0):
            raise ConfigError(f"normal needs a finite mean and std >= 0, got {mean}, {std}")
        dims, size = _size_of(shape)
        pairs = -(-size // 2)
        uniforms = xp.reshape(self._unit_uniform(2 * pairs, xp, device, dtype), (pairs, 2))
        # NOTE: 1 - u lies in (0, 1], so the log never sees 0.
        radius = xp.sqrt(-2.0 * xp.log(1.0 - uniforms[:, 0]))
        angle = (2.0 * math.pi) * uniforms[:, 1]
        values = xp.stack([radius * xp.cos(angle), radius * xp.sin(angle)], axis=1)
        values = xp.reshape(values, (-1,))[:size]
        if (mean, std) != (0.0, 1.0):
            values = values * std + mean
        return xp.reshape(values, dims)

    def integers(
        self,
        low: int,
        high: int,
        shape: Shape,
        xp: Any,
        device: Any = None,
        dtype: Any = None,
    ) -> Any:
        """Uniform integers in ``[low, high)``.

        Args:
            low: the smallest value.
            high: one past the largest value; must exceed ``low``.
            shape: the output shape.
            xp: the array namespace.
            device: the device of ``xp`` (``None``: its default).
            dtype: an integer dtype of ``xp`` (default ``xp.int64``) holding both bounds.

        Returns:
            An array of ``shape`` and ``dtype``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> labels = Generator(0).integers(0, 10, (8,), xp)
            >>> bool(xp.all((labels >= 0) & (labels < 10)))
            True
        """
        dtype = xp.int64 if dtype is None else dtype
        if not xp.isdtype(dtype, "integral"):
            raise DTypeError(f"integers needs an integer dtype, got {dtype}")
        low, high = operator.index(low), operator.index(high)
        if high <= low:
            raise ConfigError(f"integers needs high > low, got low={low}, high={high}")
        limits = xp.iinfo(dtype)
        if low < limits.min or high - 1 > limits.max:
            raise ConfigError(
                f"integers range [{low}, {high}) does not fit dtype {dtype} "
                f"([{limits.min}, {limits.max}])"
            )
        span = high - low
        if low < 0 and span > 2**63:
            raise ConfigError(f"integers range [{low}, {high}) is wider than 2**63")
        dims, size = _size_of(shape)
        high_words, low_words = self._pairs(size, xp, device)
        # NOTE: a 64-bit value modulo the span is biased by at most span / 2**64
        # (below 2**-32 for spans up to 2**32), with no rejection loop.
        values = (high_words << 32) | low_words
        if span < _SEED_LIMIT:
            values = values % span
        if low >= 0:
            values = values + low
        else:
            values = xp.astype(values, xp.int64) + low
        return xp.reshape(xp.astype(values, dtype), dims)

    def permutation(self, n: int, xp: Any, device: Any = None) -> Any:
        """A random permutation of ``range(n)``.

        Args:
            n: the length.
            xp: the array namespace.
            device: the device of ``xp`` (``None``: its default).

        Returns:
            An int64 array of shape ``(n,)``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> order = Generator(0).permutation(5, xp)
            >>> sorted(order.tolist())
            [0, 1, 2, 3, 4]
        """
        n = operator.index(n)
        if n < 0:
            raise ConfigError(f"permutation needs n >= 0, got {n}")
        high_words, low_words = self._pairs(n, xp, device)
        # NOTE: 64-bit keys make ties (broken by position) vanishingly rare.
        keys = (high_words << 32) | low_words
        return xp.astype(xp.argsort(keys, stable=True), xp.int64)

    def bernoulli(self, p: float, shape: Shape, xp: Any, device: Any = None) -> Any:
        """Random booleans, each True with probability ``p`` (dropout masks).

        Args:
            p: the probability of True, in [0, 1].
            shape: the output shape.
            xp: the array namespace.
            device: the device of ``xp`` (``None``: its default).

        Returns:
            A bool array of ``shape``.

        Example:
            >>> import array_api_compat.numpy as xp
            >>> keep = Generator(0).bernoulli(0.9, (4, 4), xp)
            >>> keep.dtype
            dtype('bool')
        """
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"bernoulli needs 0 <= p <= 1, got {p}")
        dims, size = _size_of(shape)
        # NOTE: an integer threshold keeps p exact to 2**-32 and float-free.
        threshold = round(p * 2**32)
        return xp.reshape(self._words(size, xp, device) < threshold, dims)


default_generator: Generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator and rewind its counter.

    Args:
        seed: an integer in [-2**63, 2**64); negative seeds are taken modulo 2**64.

    Returns:
        ``default_generator``.

    Example:
        >>> import array_api_compat.numpy as xp
        >>> first = manual_seed(0).uniform(3, xp)
        >>> bool(xp.all(first == manual_seed(0).uniform(3, xp)))
        True
    """
    return default_generator.manual_seed(seed)


def get_rng_state() -> dict:
    """The state of the default generator (see ``Generator.get_state``).

    Returns:
        A JSON-serialisable dict.

    Example:
        >>> state = get_rng_state()
        >>> sorted(state)
        ['algorithm', 'offset', 'seed']
    """
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    """Restore the default generator from ``get_rng_state`` output.

    Args:
        state: a dict from ``get_rng_state`` or ``Generator.get_state``.

    Raises:
        ValueError: (``ConfigError``) when the state is not of that form.

    Example:
        >>> state = get_rng_state()
        >>> set_rng_state(state)
        >>> get_rng_state() == state
        True
    """
    default_generator.set_state(state)
