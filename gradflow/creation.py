"""Creating tensors: from data, filled, ranges, and random (from the counter-based generator)."""

from __future__ import annotations

from gradflow import dtypes as _dt
from gradflow import random as _random
from gradflow.backends import get_backend
from gradflow.backends.host import as_host_array, default_dtype_for
from gradflow.errors import ConfigError
from gradflow.tensor import Tensor


def _finish(data, backend, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(data, backend)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _size(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) or isinstance(s, bool) or s < 0:
            raise ConfigError(f"sizes must be non-negative ints, got {tuple(size)}")
    return tuple(size)


def tensor(data, dtype: _dt.DType | None = None, device=None, requires_grad: bool = False) -> Tensor:
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
    host = as_host_array(data)
    from_python = not hasattr(data, "dtype")
    if dtype is None:
        dtype = default_dtype_for(host, from_python)
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
    if dtype is None:
        dtype = _dt.bool_ if isinstance(fill_value, bool) else (
            _dt.int64 if isinstance(fill_value, int) else _dt.float32)
    size = _size(size if isinstance(size, (tuple, list)) else (size,))
    data = backend.xp.full(size, fill_value, dtype=backend.xp_dtype(dtype), device=backend.device)
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
    if step == 0:
        raise ConfigError("arange: step must not be zero")
    backend = get_backend(device)
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = _dt.int64 if integral else _dt.float32
    data = backend.xp.arange(start, end, step, dtype=backend.xp_dtype(dtype), device=backend.device)
    return _finish(data, backend, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    backend = get_backend(device)
    data = backend.xp.linspace(start, end, steps, dtype=backend.xp_dtype(dtype or _dt.float32),
                               device=backend.device)
    return _finish(data, backend, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The identity matrix (n x m)."""
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
        >>> gf.manual_seed(0); a = gf.rand(3)
        >>> gf.manual_seed(0); bool((gf.rand(3) == a).all())
        True
    """
    backend = get_backend(device)
    data = _generator(generator).uniform(_size(size), backend.xp, backend.device,
                                         backend.xp_dtype(dtype or _dt.float32))
    return _finish(data, backend, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    backend = get_backend(device)
    data = _generator(generator).normal(_size(size), backend.xp, backend.device,
                                        backend.xp_dtype(dtype or _dt.float32))
    return _finish(data, backend, requires_grad)


def randint(low: int, high: int | None = None, size=(), *, generator=None, dtype=None,
            device=None) -> Tensor:
    """Integers in [low, high); `randint(high, size)` starts at 0."""
    if high is None:
        low, high = 0, low
    backend = get_backend(device)
    size = _size(size if isinstance(size, (tuple, list)) else (size,))
    data = _generator(generator).integers(low, high, size, backend.xp, backend.device,
                                          backend.xp_dtype(dtype or _dt.int64))
    return _finish(data, backend, False)


def randperm(n: int, *, generator=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    backend = get_backend(device)
    return _finish(_generator(generator).permutation(n, backend.xp, backend.device), backend, False)


def manual_seed(seed: int):
    """Seed the default generator: the same seed gives the same numbers on every device."""
    return _random.manual_seed(seed)
