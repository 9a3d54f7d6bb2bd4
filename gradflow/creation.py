"""Creating tensors: from data, filled, ranges, and random (from the counter-based generator)."""

from __future__ import annotations

import math
import numbers

from gradflow import dtypes as _dt
from gradflow import random as _random
from gradflow.backends import get_backend
from gradflow.backends.host import as_host_array, default_dtype_for
from gradflow.errors import (
    AllocationError,
    ArgumentTypeError,
    ConfigError,
    DTypeError,
    OutOfRangeError,
)
from gradflow.tensor import Tensor


def _finish(data, backend, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(data, backend)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size, op: str = "") -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            prefix = f"{op}: " if op else ""
            raise ConfigError(f"{prefix}sizes must be non-negative ints, got {tuple(size)}")
    return tuple(size)


# -- checks that nothing is wrapped, truncated or allocated silently -------------------------

def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, complex)


def _integer_range(dtype: _dt.DType) -> tuple[int, int]:
    bits = 8 * dtype.itemsize
    if dtype.name.startswith("uint"):
        return 0, 2 ** bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def check_fits(values, dtype: _dt.DType, op: str) -> None:
    """Raise OutOfRangeError when a host array or a number does not fit the integer `dtype`."""
    if dtype.is_floating_point or dtype.name == "bool":
        return
    low, high = _integer_range(dtype)
    if isinstance(values, numbers.Real):
        if isinstance(values, float) and not math.isfinite(values):
            raise OutOfRangeError(f"{op}: {values} cannot be stored in {dtype.name}: an "
                                  "integer dtype holds no NaN or infinity")
        if not low <= values <= high:
            raise OutOfRangeError(f"{op}: {values} is out of range for {dtype.name} "
                                  f"({low}..{high}); nothing is wrapped around")
        return
    if values.size == 0 or values.dtype.kind not in "fiu":
        return
    if values.dtype.kind == "f":
        finite = abs(values) < math.inf  # False for NaN and both infinities
        if not finite.all():
            check_fits(float(values[~finite].reshape(-1)[0]), dtype, op)
    smallest, largest = values.min(), values.max()
    for value in (smallest, largest):
        check_fits(int(value) if values.dtype.kind in "iu" else float(value), dtype, op)


def _oversized_int(data):
    """The first Python int in (nested lists of) `data` beyond int64/uint64, or None."""
    if isinstance(data, int) and not isinstance(data, bool):
        return data if not -(2 ** 63) <= data < 2 ** 64 else None
    if isinstance(data, (list, tuple)):
        for item in data:
            found = _oversized_int(item)
            if found is not None:
                return found
    return None


def _allocate(make, size, dtype, backend, op: str):
    """Run the backend's allocation; a size it cannot hold is an AllocationError naming it."""
    try:
        return make()
    except (MemoryError, ValueError) as exc:
        count = math.prod(size)
        raise AllocationError(
            f"{op}: cannot allocate a tensor of shape {tuple(size)} ({count} elements of "
            f"{dtype.name}, {count * dtype.itemsize} bytes) on {backend.name} ({exc})") from None


def _check_generator(generator, op: str) -> None:
    if generator is not None and not isinstance(generator, _random.Generator):
        raise ArgumentTypeError(f"{op}: generator must be a gradflow Generator "
                                f"(gf.Generator(seed)) or None, got {generator!r} "
                                f"({type(generator).__name__})")


def tensor(data, dtype: _dt.DType | None = None, device=None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data`.

    Args:
        data: a number, nested lists, a NumPy/CuPy/array-API array, or a Tensor.
        dtype: gradflow dtype; Python floats default to float32 and ints to int64.
        device: "cpu", "cuda", "strict:device1", ... (default: the data's device, else cpu).
        requires_grad: record ops on it for backward().

    Example:
        >>> x = gf.tensor([[1.0, 2.0]], requires_grad=True)
        >>> x.shape, x.dtype
        ((1, 2), gradflow.float32)
    """
    if isinstance(data, Tensor):
        out = data.detach().to(device=device, dtype=dtype)
        if out.data is data.data:
            out = Tensor._wrap(out.backend.xp.asarray(out.data, copy=True), out.backend)
        return _finish(out.data, out.backend, requires_grad)
    if isinstance(dtype, str):
        dtype = _dt.by_name(dtype)
    if device is None and hasattr(data, "__array_namespace__") and not hasattr(
        data, "__array_interface__"
    ):
        from gradflow.backends import backend_of

        backend = backend_of(data)
        out = backend.xp.asarray(data, copy=True)
        if dtype is not None:
            out = backend.xp.astype(out, backend.xp_dtype(dtype))
        return _finish(out, backend, requires_grad)
    backend = get_backend(device)
    try:
        host = as_host_array(data)
    except DTypeError:
        huge = _oversized_int(data)
        if huge is not None:
            raise OutOfRangeError(f"tensor(): the integer {huge} overflows int64 (and every "
                                  "other integer dtype); give it as a float") from None
        raise
    from_python = not hasattr(data, "dtype")
    if dtype is None:
        dtype = default_dtype_for(host, from_python)
    if isinstance(dtype, _dt.DType):  # else from_host names the bad dtype
        check_fits(host, dtype, "tensor()")
    return _finish(backend.from_host(host, dtype), backend, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor, without a copy when it already is one of that dtype and device."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    return tensor(data, dtype=dtype, device=device)


_DLPACK_DEVICES = {1: "cpu", 2: "cuda", 3: "cpu", 13: "cuda"}  # kDLCPU, kDLCUDA, pinned, managed


def from_dlpack(array, *, device=None) -> Tensor:
    """A tensor sharing memory with another library's array or tensor (DLPack, no copy).

    Args:
        array: anything with __dlpack__ (a NumPy or CuPy array, a PyTorch tensor, a gradflow
            tensor); PyTorch tensors that require grad must be detached first.
        device: the gradflow device to import into; by default the array's own (CPU memory
            goes to "cpu", CUDA memory to "cuda:<id>"). Zero-copy when the device's library
            can read the memory in place (NumPy on the CPU, CuPy on its GPU).

    Returns:
        A leaf tensor: writes through it are seen by `array`, and the other way.

    Raises:
        DTypeError: the array has a dtype the device has no gradflow dtype for.
        BackendUnavailableError: its memory lives on a device gradflow cannot use.

    Example:
        >>> shared = np.arange(3.0)
        >>> t = gf.from_dlpack(shared)
        >>> shared[0] = 7.0
        >>> t.tolist()
        [7.0, 1.0, 2.0]
    """
    from gradflow.errors import DTypeError

    if isinstance(array, Tensor):
        return array if device is None else array.to(device)
    if device is None:
        kind, index = array.__dlpack_device__()
        name = _DLPACK_DEVICES.get(int(kind))
        if name is None:
            from gradflow.errors import BackendUnavailableError

            raise BackendUnavailableError(f"from_dlpack: the array lives on DLPack device type "
                                          f"{int(kind)}, which gradflow has no backend for; "
                                          "copy it to the CPU first")
        device = name if name == "cpu" else f"cuda:{int(index)}"
    backend = get_backend(device)
    data = backend.xp.from_dlpack(array)
    if data.dtype not in backend.from_xp:
        raise DTypeError(f"from_dlpack: dtype {data.dtype} has no gradflow dtype on device "
                         f"{backend.name!r}; convert it first (e.g. to float32)")
    return Tensor._wrap(data, backend)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of `size` filled with `fill_value`."""
    backend = get_backend(device)
    if not _is_number(fill_value):
        raise DTypeError(f"full: fill_value must be a number or a bool, got {fill_value!r} "
                         f"({type(fill_value).__name__})")
    if dtype is None:
        dtype = _dt.bool_ if isinstance(fill_value, bool) else (
            _dt.int64 if isinstance(fill_value, int) else _dt.float32)
    size = _size(size if isinstance(size, (tuple, list)) else (size,))
    check_fits(fill_value, dtype, "full")
    data = _allocate(lambda: backend.xp.full(size, fill_value, dtype=backend.xp_dtype(dtype),
                                             device=backend.device), size, dtype, backend, "full")
    return _finish(data, backend, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros (float32 unless `dtype` says otherwise).

    Example:
        >>> gf.zeros(2, 3).shape
        (2, 3)
    """
    return full(_size(size), 0.0 if dtype is None else 0, dtype=dtype or _dt.float32,
                device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones (float32 unless `dtype` says otherwise)."""
    return full(_size(size), 1.0 if dtype is None else 1, dtype=dtype or _dt.float32,
                device=device, requires_grad=requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(x: Tensor, dtype, device):
    return (dtype or x.dtype), (device or x.backend)


def zeros_like(x: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return full(x.shape, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(x: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return full(x.shape, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype, device = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step; ints give int64."""
    if end is None:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not _is_number(value) or not math.isfinite(value):
            raise ConfigError(f"arange: {name} must be a finite number, got {value!r}")
    if step == 0:
        raise ConfigError("arange: step must not be zero")
    backend = get_backend(device)
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = _dt.int64 if integral else _dt.float32
    elif not dtype.is_floating_point and (start != int(start) or step != int(step)):
        raise ConfigError(f"arange: start {start} and step {step} must be whole numbers for "
                          f"dtype {dtype.name} (a fractional step would truncate); use a float "
                          "dtype")
    data = backend.xp.arange(start, end, step, dtype=backend.xp_dtype(dtype), device=backend.device)
    return _finish(data, backend, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ConfigError(f"linspace: steps must be a non-negative int, got {steps!r}")
    for name, value in (("start", start), ("end", end)):
        if not _is_number(value):
            raise ConfigError(f"linspace: {name} must be a number, got {value!r}")
    backend = get_backend(device)
    data = backend.xp.linspace(start, end, steps, dtype=backend.xp_dtype(dtype or _dt.float32),
                               device=backend.device)
    return _finish(data, backend, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The identity matrix (n x m)."""
    if m is None:
        (n,) = _size((n,), "eye")
    else:
        n, m = _size((n, m), "eye")
    backend = get_backend(device)
    data = backend.xp.eye(n, m, dtype=backend.xp_dtype(dtype or _dt.float32), device=backend.device)
    return _finish(data, backend, requires_grad)


# -- random: every draw comes from the counter-based generator, so it is the same on
# every backend and device for the same seed ------------------------------------------


def _generator(generator):
    return _random.default_generator if generator is None else generator


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1).

    Example:
        >>> _ = gf.manual_seed(0); a = gf.rand(3)
        >>> _ = gf.manual_seed(0); bool((gf.rand(3) == a).all())
        True
    """
    _check_generator(generator, "rand")
    backend = get_backend(device)
    data = _generator(generator).uniform(_size(size), backend.xp, backend.device,
                                         backend.xp_dtype(dtype or _dt.float32))
    return _finish(data, backend, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    _check_generator(generator, "randn")
    backend = get_backend(device)
    data = _generator(generator).normal(_size(size), backend.xp, backend.device,
                                        backend.xp_dtype(dtype or _dt.float32))
    return _finish(data, backend, requires_grad)


def randint(low: int, high: int | None = None, size=(), *, generator=None, dtype=None,
            device=None) -> Tensor:
    """Integers in [low, high); `randint(high, size)` starts at 0."""
    if high is None:
        low, high = 0, low
    for name, value in (("low", low), ("high", high)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"randint: {name} must be an int, got {value!r}")
    if high <= low:
        raise ConfigError(f"randint: the range [{low}, {high}) is empty")
    _check_generator(generator, "randint")
    backend = get_backend(device)
    size = _size(size if isinstance(size, (tuple, list)) else (size,))
    data = _generator(generator).integers(low, high, size, backend.xp, backend.device,
                                          backend.xp_dtype(dtype or _dt.int64))
    return _finish(data, backend, False)


def randperm(n: int, *, generator=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    (n,) = _size((n,), "randperm")
    _check_generator(generator, "randperm")
    backend = get_backend(device)
    return _finish(_generator(generator).permutation(n, backend.xp, backend.device), backend, False)


def manual_seed(seed: int):
    """Seed the default generator: the same seed gives the same numbers on every device."""
    return _random.manual_seed(seed)
