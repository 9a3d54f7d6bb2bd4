"""CUDA through CuPy. CuPy is imported here, lazily, and nowhere else."""

from __future__ import annotations

import functools
import math

from gradflow.backends.generic import Backend
from gradflow.backends.strided import strided_im2col
from gradflow.errors import BackendUnavailableError

INSTALL_HINT = "pip install cupy-cuda12x (CUDA 12) or cupy-cuda13x (CUDA 13)"


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
        self._add_bfloat16()

    def _add_bfloat16(self) -> None:
        """bfloat16 (ml_dtypes' NumPy dtype) where this CuPy version makes arrays of it."""
        from gradflow import dtypes
        from gradflow.backends.numpy import bfloat16_dtype

        bfloat16 = bfloat16_dtype()
        if bfloat16 is None:
            return
        try:
            with self.device:
                self._cupy.zeros(1, dtype=bfloat16)
        except Exception:  # noqa: BLE001 - whatever CuPy raises, it has no bfloat16
            return
        self.to_xp[dtypes.bfloat16] = bfloat16
        self.from_xp[bfloat16] = dtypes.bfloat16
        self.float_dtypes = self.float_dtypes | {bfloat16}

    def from_host(self, host, dtype=None):
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        with self.device:
            return self._cupy.array(host, dtype=xp_dtype, copy=True)

    def to_host(self, array):
        return self._cupy.asnumpy(array)

    def own(self, array):
        return array if array.base is None else array.copy()

    # NOTE: scatter_add_rows stays generic on purpose: cupyx.scatter_add uses
    # atomics whose order varies run to run, and gradflow promises identical
    # gradients on every device.

    # -- convolution: the columns in one copy from a strided view, as on the CPU --

    def im2col(self, x, kernel, stride, padding, dilation, batch_major=False, wide=False):
        with self.device:
            return strided_im2col(self, self._cupy, x, kernel, stride, padding, dilation,
                                  batch_major, wide)

    # -- optimizer steps: the generic math fused into one kernel per parameter --

    def sgd_step(self, param, grad, momentum_buffer, options):
        lr, momentum, dampening = options["lr"], options["momentum"], options["dampening"]
        nesterov, weight_decay = options["nesterov"], options["weight_decay"]
        maximize = options["maximize"]
        if param.dtype.char not in "fd" or not _contiguous(param, momentum_buffer):
            return super().sgd_step(param, grad, momentum_buffer, options)
        with self.device:
            grad = self._cupy.ascontiguousarray(grad, dtype=param.dtype)
            if momentum == 0:
                _launch(sgd_source, False, param, grad, lr, weight_decay, maximize, param)
                return param, momentum_buffer
            first = momentum_buffer is None
            if first:
                momentum_buffer = self._cupy.empty_like(param)
            _launch(sgd_source, True, param, grad, lr, weight_decay, maximize, param, momentum,
                    1 - dampening, nesterov, first, momentum_buffer)
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, options):
        lr, (beta1, beta2), eps = options["lr"], options["betas"], options["eps"]
        weight_decay, amsgrad = options["weight_decay"], options["amsgrad"]
        maximize = options["maximize"]
        decoupled_weight_decay = options.get("decoupled_weight_decay", False)
        if param.dtype.char not in "fd" or not _contiguous(param, exp_avg, exp_avg_sq,
                                                            max_exp_avg_sq):
            return super().adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step,
                                     options)
        decoupled = decoupled_weight_decay and weight_decay != 0
        decay = 1 - lr * weight_decay if decoupled else 1.0
        l2 = 0.0 if decoupled else weight_decay
        with self.device:
            grad = self._cupy.ascontiguousarray(grad, dtype=param.dtype)
            args = (grad, maximize, l2, decay, 1 - beta1, beta2, 1 - beta2,
                    math.sqrt(1 - beta2**step), eps, lr / (1 - beta1**step), param, exp_avg,
                    exp_avg_sq) + ((max_exp_avg_sq,) if amsgrad else ())
            _launch(adam_source, amsgrad, param, *args)
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq


def _contiguous(*arrays) -> bool:
    """The kernels index flat memory: arrays they write must be C-contiguous."""
    return all(a is None or a.flags.c_contiguous for a in arrays)


def make_cupy_backend(index: int) -> Backend:
    count, reason = cuda_status()
    if count == 0:
        raise BackendUnavailableError(f"device 'cuda:{index}' is not available: {reason}")
    if index >= count:
        raise BackendUnavailableError(f"device 'cuda:{index}' does not exist: {count} GPU(s) found")
    return CupyBackend(index)


# -- fused optimizer kernels ------------------------------------------------------------
#
# RawKernels with their whole CUDA source written here, so that the test suite compiles
# every one with NVRTC for sm_80 and sm_90 without a GPU (tests/backends/test_cuda_compile.py,
# `make test-cuda-compile`). They mirror generic.py line for line; each thread walks the
# contiguous arrays with a grid-stride loop.

_CTYPES = {"f": "float", "d": "double"}
_THREADS = 256

_SGD_BODY = """
    T d = maximize ? -grad[i] : grad[i];
    if (weight_decay != 0) d = d + weight_decay * param[i];
"""
_SGD_MOMENTUM_BODY = """
    if (first) buf[i] = d; else buf[i] = momentum * buf[i] + one_minus_dampening * d;
    d = nesterov ? d + momentum * buf[i] : buf[i];
"""
_ADAM_BODY = """
    T g = maximize ? -grad[i] : grad[i];
    if (weight_decay != 0) g = g + weight_decay * param[i];
    exp_avg[i] = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i]);
    exp_avg_sq[i] = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g);
"""
# NOTE: written out so that a NaN on either side wins, as xp.maximum does.
_AMSGRAD_BODY = """
    T m = max_exp_avg_sq[i];
    max_exp_avg_sq[i] = (m != m || m > exp_avg_sq[i]) ? m : exp_avg_sq[i];
    T second = max_exp_avg_sq[i];
"""


def _source(name: str, params: str, body: str, char: str) -> str:
    ctype = _CTYPES[char]
    return (f"typedef {ctype} T;\n"
            f"extern \"C\" __global__ void {name}({params}, long long n) {{\n"
            f"  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;\n"
            f"       i += (long long)blockDim.x * gridDim.x) {{{body}  }}\n}}\n")


def sgd_source(with_momentum: bool, char: str) -> tuple[str, str]:
    """(kernel name, CUDA source) of the fused SGD step for dtype char "f" or "d"."""
    params = "const T* grad, T lr, T weight_decay, bool maximize, T* param"
    body = _SGD_BODY
    if with_momentum:
        params += ", T momentum, T one_minus_dampening, bool nesterov, bool first, T* buf"
        body += _SGD_MOMENTUM_BODY
    body += "    param[i] = param[i] - lr * d;\n"
    name = f"gradflow_sgd{'_momentum' if with_momentum else ''}_{char}"
    return name, _source(name, params, body, char)


def adam_source(amsgrad: bool, char: str) -> tuple[str, str]:
    """(kernel name, CUDA source) of the fused Adam/AdamW step for dtype char "f" or "d".

    decay is 1 unless the weight decay is decoupled (AdamW); weight_decay is then 0.
    """
    params = ("const T* grad, bool maximize, T weight_decay, T decay, T one_minus_beta1, "
              "T beta2, T one_minus_beta2, T bias2_sqrt, T eps, T step_size, T* param, "
              "T* exp_avg, T* exp_avg_sq")
    body = _ADAM_BODY
    if amsgrad:
        params += ", T* max_exp_avg_sq"
        body += _AMSGRAD_BODY
    else:
        body += "    T second = exp_avg_sq[i];\n"
    body += ("    T denom = sqrt(second) / bias2_sqrt + eps;\n"
             "    param[i] = param[i] * decay - step_size * (exp_avg[i] / denom);\n")
    name = f"gradflow_{'amsgrad' if amsgrad else 'adam'}_{char}"
    return name, _source(name, params, body, char)


def cuda_sources() -> dict[str, str]:
    """Every CUDA kernel gradflow launches: name -> full source (for NVRTC checks)."""
    sources = {}
    for char in _CTYPES:
        for flag in (False, True):
            for make in (sgd_source, adam_source):
                name, source = make(flag, char)
                sources[name] = source
    return sources


@functools.cache
def _raw_kernel(make, flag: bool, char: str):
    import cupy

    name, source = make(flag, char)
    return cupy.RawKernel(source, name)


def _launch(make, flag: bool, param, *args) -> None:
    """Run a kernel over param's elements; args are arrays and Python scalars (cast to the
    parameter's dtype; bools stay bools)."""
    import cupy

    char = param.dtype.char
    scalar = param.dtype.type
    values = [a if isinstance(a, cupy.ndarray) else
              (cupy.bool_(a) if isinstance(a, bool) else scalar(a)) for a in args]
    n = param.size
    blocks = max(1, min((n + _THREADS - 1) // _THREADS, 4096))
    _raw_kernel(make, flag, char)((blocks,), (_THREADS,), (*values, cupy.int64(n)))
