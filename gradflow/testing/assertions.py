"""assert_close: compare tensors or arrays with dtype-aware tolerances and a useful report."""

from __future__ import annotations

import numpy as np

# (rtol, atol) by dtype, as PyTorch's testing defaults
DEFAULT_TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def to_numpy(value) -> np.ndarray:
    """A host NumPy array from a Tensor, any backend array, or Python data."""
    from gradflow.tensor import Tensor

    if isinstance(value, Tensor):
        return value.numpy()
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__array_namespace__"):
        from gradflow.backends import backend_of

        return backend_of(value).to_host(value)
    return np.asarray(value)


def tolerances(*arrays: np.ndarray) -> tuple[float, float]:
    """The loosest default (rtol, atol) among the arrays' dtypes."""
    rtol, atol = 0.0, 0.0
    for a in arrays:
        r, t = DEFAULT_TOLERANCES.get(a.dtype.name, (0.0, 0.0))
        rtol, atol = max(rtol, r), max(atol, t)
    return rtol, atol


def _dtype_name(value) -> str | None:
    """The dtype a value declares (a Tensor or an array), or None for Python numbers and lists."""
    from gradflow.tensor import Tensor

    if isinstance(value, Tensor):
        return value.dtype.name
    if getattr(value, "dtype", None) is None:
        return None
    return to_numpy(value).dtype.name


def _device_name(value) -> str | None:
    """A Tensor's device (None for host data, which is compared wherever it is)."""
    from gradflow.tensor import Tensor

    return value.device if isinstance(value, Tensor) else None


def assert_close(actual, expected, rtol: float | None = None, atol: float | None = None,
                 msg: str = "", equal_nan: bool = False, check_dtype: bool = True,
                 check_device: bool = True) -> None:
    """Assert |actual - expected| <= atol + rtol * |expected| elementwise, and that the
    dtypes and devices match (as torch.testing.assert_close does).

    Defaults come from the dtypes (float16, float32, float64). On failure the
    message gives the worst element, its index and how many elements fail.
    The dtype is compared when both sides declare one (tensors and arrays; Python
    numbers and lists take `actual`'s), the device when both are tensors. A NaN equals
    a NaN only with `equal_nan=True`; infinities of the same sign are always equal.

    Example:
        >>> assert_close(gf.tensor([1.0, 2.0]), [1.0, 2.0000001])
    """
    prefix = f"{msg}: " if msg else ""
    if check_dtype:
        names = _dtype_name(actual), _dtype_name(expected)
        if None not in names and names[0] != names[1]:
            raise AssertionError(f"{prefix}dtypes differ: actual {names[0]}, expected {names[1]} "
                                 "(pass check_dtype=False to compare the values only)")
    if check_device:
        places = _device_name(actual), _device_name(expected)
        if None not in places and places[0] != places[1]:
            raise AssertionError(f"{prefix}devices differ: actual {places[0]}, expected "
                                 f"{places[1]} (pass check_device=False to compare the values "
                                 "only)")
    a = to_numpy(actual)
    e = to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{prefix}shapes differ: actual {a.shape}, expected {e.shape}")
    default_rtol, default_atol = tolerances(a, e)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if a.dtype.kind not in "fc" and e.dtype.kind not in "fc":
        bad = a != e
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AssertionError(f"{prefix}{int(bad.sum())} of {a.size} elements differ; first at "
                                 f"{index}: {a[index]!r} != {e[index]!r}")
        return
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - e64)
        allowed = atol + rtol * np.abs(e64)
        bad = ~(diff <= allowed)
    infinite = np.isinf(a64) | np.isinf(e64)  # an infinity equals only itself
    bad = np.where(infinite, a64 != e64, bad)
    if equal_nan:
        bad &= ~(np.isnan(a64) & np.isnan(e64))
    if not bad.any():
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(bad, np.nan_to_num(diff - allowed, nan=np.inf), -np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.ndim else ()
    with np.errstate(invalid="ignore"):
        rel = diff[worst] / abs(e64[worst]) if e64[worst] != 0 else float("inf")
    raise AssertionError(
        f"{prefix}{int(bad.sum())} of {a.size} elements are not close (rtol={rtol:g}, "
        f"atol={atol:g}); worst at index {tuple(int(i) for i in worst)}: actual {a64[worst]!r}, "
        f"expected {e64[worst]!r}, abs error {diff[worst]:.3g}, rel error {rel:.3g}"
    )
