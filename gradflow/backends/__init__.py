"""Backends: an array namespace, a device and the kernels that run on it.

A device is named by a string: "cpu" (NumPy), "cuda" / "cuda:N" (CuPy),
"strict" / "strict:device1" (array-api-strict and its simulated devices), and
"auto" (CUDA when CuPy and a GPU are present, else the CPU). Each name maps
to one cached Backend instance, so a device check is an identity test.
"""

from __future__ import annotations

import logging
import threading

from gradflow.backends.generic import Backend
from gradflow.errors import BackendUnavailableError

__all__ = ["Backend", "get_backend", "backend_of", "available_devices", "cuda_available"]

_log = logging.getLogger("gradflow")
_cache: dict[str, Backend] = {}
_lock = threading.Lock()
_STRICT_DEVICES = ("CPU_DEVICE", "device1", "device2", "no_float64", "no_x64")


def _is_dtype_name(name: str) -> bool:
    from gradflow import dtypes
    from gradflow.errors import DTypeError

    try:
        dtypes.by_name(name)
    except DTypeError:
        return False
    return True


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        choice = "cuda:0" if cuda_available() else "cpu"
        _log.info("gradflow: device 'auto' chose %s", choice)
        return choice
    if name in ("cpu", "numpy"):
        return "cpu"
    if name in ("cuda", "gpu"):
        return "cuda:0"
    if name == "strict":
        return "strict:CPU_DEVICE"
    if name.startswith("strict:"):
        sub = name.split(":", 1)[1]
        for known in _STRICT_DEVICES:
            if known.lower() == sub:
                return "strict:" + known
        raise BackendUnavailableError(
            f"unknown array-api-strict device {sub!r}; choose one of {', '.join(_STRICT_DEVICES)}"
        )
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    if _is_dtype_name(name):
        raise BackendUnavailableError(f"{name!r} is a dtype, not a device: use .to(gf.{name}) "
                                      f"or .to(dtype=gf.{name})")
    raise BackendUnavailableError(
        f"unknown device {name!r}: use 'cpu', 'cuda', 'cuda:N', 'strict', 'strict:device1' "
        "or 'auto'"
    )


def get_backend(device: str | Backend | None = None) -> Backend:
    """Return the cached backend for a device name (default: "cpu")."""
    if isinstance(device, Backend):
        return device
    if device is None:
        device = "cpu"
    else:
        cached = _cache.get(device)
        if cached is not None:
            return cached
    key = _canonical(device)
    backend = _cache.get(key)
    if backend is None:
        with _lock:
            backend = _cache.get(key)
            if backend is None:
                backend = _create(key)
                _cache[key] = backend
    if device != "auto":
        _cache[device] = backend
    return backend


def _create(key: str) -> Backend:
    if key == "cpu":
        from gradflow.backends.numpy import NumpyBackend

        return NumpyBackend()
    if key.startswith("strict:"):
        try:
            import array_api_strict
        except ImportError as exc:  # pragma: no cover - test extra missing
            raise BackendUnavailableError(
                f"device {key!r} needs array-api-strict: pip install array-api-strict"
            ) from exc
        from gradflow.backends.strict import StrictBackend

        return StrictBackend(array_api_strict, key.split(":", 1)[1])
    from gradflow.backends.cupy import make_cupy_backend

    return make_cupy_backend(int(key.split(":", 1)[1]))


def backend_of(array) -> Backend:
    """The backend (device) an array lives on."""
    from array_api_compat import is_cupy_array, is_numpy_array

    if is_numpy_array(array):
        return get_backend("cpu")
    if is_cupy_array(array):
        return get_backend(f"cuda:{array.device.id}")
    module = type(array).__module__
    if module.startswith("array_api_strict"):
        return get_backend("strict:" + array.device._device)
    raise BackendUnavailableError(f"no gradflow backend for arrays of type {type(array).__name__}")


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA GPU."""
    from gradflow.backends.cupy import cuda_device_count

    return cuda_device_count() > 0


def available_devices() -> dict[str, str]:
    """Every device name gradflow knows, mapped to "available" or the reason it is not."""
    result = {"cpu": "available"}
    try:
        import array_api_strict  # noqa: F401

        for sub in _STRICT_DEVICES:
            result["strict:" + sub if sub != "CPU_DEVICE" else "strict"] = "available"
    except ImportError:
        result["strict"] = "not available: pip install array-api-strict"
    from gradflow.backends.cupy import cuda_status

    count, reason = cuda_status()
    if count:
        for index in range(count):
            result[f"cuda:{index}"] = "available"
    else:
        result["cuda"] = f"not available: {reason}"
    return result
