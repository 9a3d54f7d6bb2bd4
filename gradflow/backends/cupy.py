"""CUDA through CuPy. CuPy is imported here, lazily, and nowhere else."""

from __future__ import annotations

import functools
import math

from gradflow.backends.generic import Backend
from gradflow.backends.strided import strided_im2col
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
        if param.dtype.char not in "fd":
            return super().sgd_step(param, grad, momentum_buffer, options)
        with self.device:
            if momentum == 0:
                _sgd_kernel(False)(grad, lr, weight_decay, maximize, param)
                return param, momentum_buffer
            first = momentum_buffer is None
            if first:
                momentum_buffer = self._cupy.empty_like(param)
            _sgd_kernel(True)(grad, lr, weight_decay, maximize, momentum, 1 - dampening,
                              nesterov, first, param, momentum_buffer)
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, options):
        lr, (beta1, beta2), eps = options["lr"], options["betas"], options["eps"]
        weight_decay, amsgrad = options["weight_decay"], options["amsgrad"]
        maximize = options["maximize"]
        decoupled_weight_decay = options.get("decoupled_weight_decay", False)
        if param.dtype.char not in "fd":
            return super().adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step,
                                     options)
        decoupled = decoupled_weight_decay and weight_decay != 0
        decay = 1 - lr * weight_decay if decoupled else 1.0
        l2 = 0.0 if decoupled else weight_decay
        scalars = (grad, maximize, l2, decay, 1 - beta1, beta2, 1 - beta2,
                   math.sqrt(1 - beta2**step), eps, lr / (1 - beta1**step))
        with self.device:
            if amsgrad:
                _adam_kernel(True)(*scalars, param, exp_avg, exp_avg_sq, max_exp_avg_sq)
            else:
                _adam_kernel(False)(*scalars, param, exp_avg, exp_avg_sq)
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq


def make_cupy_backend(index: int) -> Backend:
    count, reason = cuda_status()
    if count == 0:
        raise BackendUnavailableError(f"device 'cuda:{index}' is not available: {reason}")
    if index >= count:
        raise BackendUnavailableError(f"device 'cuda:{index}' does not exist: {count} GPU(s) found")
    return CupyBackend(index)


# -- fused optimizer kernels (built on first use; they mirror generic.py line for line) --


@functools.cache
def _sgd_kernel(with_momentum: bool):
    import cupy

    inputs, outputs = "T grad, T lr, T weight_decay, bool maximize", "T param"
    body = "T d = maximize ? -grad : grad;\n" \
           "if (weight_decay != 0) d = d + weight_decay * param;\n"
    if with_momentum:
        inputs += ", T momentum, T one_minus_dampening, bool nesterov, bool first"
        outputs += ", T buf"
        body += "if (first) buf = d; else buf = momentum * buf + one_minus_dampening * d;\n" \
                "d = nesterov ? d + momentum * buf : buf;\n"
    body += "param = param - lr * d;"
    name = "gradflow_sgd_momentum" if with_momentum else "gradflow_sgd"
    return cupy.ElementwiseKernel(inputs, outputs, body, name)


@functools.cache
def _adam_kernel(amsgrad: bool):
    import cupy

    # decay is 1 unless the weight decay is decoupled (AdamW); weight_decay is then 0.
    inputs = ("T grad, bool maximize, T weight_decay, T decay, T one_minus_beta1, T beta2, "
              "T one_minus_beta2, T bias2_sqrt, T eps, T step_size")
    outputs = "T param, T exp_avg, T exp_avg_sq"
    body = "T g = maximize ? -grad : grad;\n" \
           "if (weight_decay != 0) g = g + weight_decay * param;\n" \
           "exp_avg = exp_avg + one_minus_beta1 * (g - exp_avg);\n" \
           "exp_avg_sq = beta2 * exp_avg_sq + one_minus_beta2 * (g * g);\n"
    if amsgrad:
        outputs += ", T max_exp_avg_sq"
        # NOTE: written out so that a NaN on either side wins, as xp.maximum does.
        body += "T m = max_exp_avg_sq;\n" \
                "max_exp_avg_sq = (m != m || m > exp_avg_sq) ? m : exp_avg_sq;\n" \
                "T second = max_exp_avg_sq;\n"
    else:
        body += "T second = exp_avg_sq;\n"
    body += "T denom = sqrt(second) / bias2_sqrt + eps;\n" \
            "param = param * decay - step_size * (exp_avg / denom);"
    name = "gradflow_amsgrad" if amsgrad else "gradflow_adam"
    return cupy.ElementwiseKernel(inputs, outputs, body, name)
