"""CUDA through CuPy. CuPy is imported here, lazily, and nowhere else."""

from __future__ import annotations

import functools

from gradflow.backends.generic import Backend
from gradflow.errors import BackendUnavailableError

INSTALL_HINT = "pip install 'gradflow[cuda12]' (or gradflow[cuda13] for CUDA 13)"


@functools.lru_cache(maxsize=1)
def cuda_status() -> tuple[int, str]:
    """(number of GPUs, reason when there are none)."""
    try:
        import cupy
    except ImportError:
        return 0, f"CuPy is not installed: {INSTALL_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no GPU
        return 0, f"CuPy is installed but sees no CUDA GPU ({exc})"
    return count, "" if count else "CuPy sees no CUDA GPU"


def cuda_device_count() -> int:
    return cuda_status()[0]


class CupyBackend(Backend):
    def __init__(self, index: int):
        import array_api_compat.cupy as xp_cupy
        import cupy

        self._cupy = cupy
        super().__init__(f"cuda:{index}", xp_cupy, cupy.cuda.Device(index))

    def from_host(self, host, dtype=None):
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        with self.device:
            return self._cupy.array(host, dtype=xp_dtype, copy=True)

    def to_host(self, array):
        return self._cupy.asnumpy(array)

    # NOTE: scatter_add_rows stays generic on purpose: cupyx.scatter_add uses
    # atomics whose order varies run to run, and gradflow promises identical
    # gradients on every device.


def make_cupy_backend(index: int) -> Backend:
    count, reason = cuda_status()
    if count == 0:
        raise BackendUnavailableError(f"device 'cuda:{index}' is not available: {reason}")
    if index >= count:
        raise BackendUnavailableError(f"device 'cuda:{index}' does not exist: {count} GPU(s) found")
    return CupyBackend(index)
