"""The CPU backend's optional fast path: fused loops compiled by numba (numba_kernels.py).

numba is optional (the `cpu-fast` extra). Without it, or with the environment variable
GRADFLOW_NUMBA=0 when the backend is created, the NumPy kernels run; they stay the
reference the fused loops are tested against (tests/backends/test_fused.py). numba and
the kernels are imported on the first call that can use them, and each kernel compiles
on its first call; compiled code is cached on disk under NUMBA_CACHE_DIR, which defaults
here to ~/.cache/gradflow/numba (set before numba is imported; a process that imported
numba earlier keeps its own setting).

Each function here returns the kernel's result, or None when the arrays are not the ones
its loop handles (the caller then runs the NumPy kernel): pooling needs tiling windows
(stride == kernel, no padding or dilation) over contiguous memory in either layout, the
optimizer steps C-contiguous float arrays of the parameter's shape and dtype.
"""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np

from gradflow.backends import channels_last
from gradflow.backends.geometry import tiles_input

_kernels = None


def wanted() -> bool:
    """Whether a new CPU backend should use the fused kernels: numba is installed and
    GRADFLOW_NUMBA is not "0". numba itself is not imported."""
    if os.environ.get("GRADFLOW_NUMBA", "1") == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def cache_dir() -> str:
    """Where compiled kernels are kept: NUMBA_CACHE_DIR, else ~/.cache/gradflow/numba
    (under XDG_CACHE_HOME when that is set)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("NUMBA_CACHE_DIR") or os.path.join(base, "gradflow", "numba")


def kernels():
    """The compiled-kernel module, importing numba on the first call."""
    global _kernels
    if _kernels is None:
        os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir())
        from gradflow.backends import numba_kernels

        _kernels = numba_kernels
    return _kernels


def _float(*arrays) -> bool:
    return all(a.dtype in (np.float32, np.float64) for a in arrays)


def _working_view(array, last):
    """`array`'s (N, H, W, C) view if `last`, else itself; None unless C-contiguous."""
    view = channels_last.nhwc(array) if last else array
    return view if view.flags.c_contiguous else None


def max_pool2d_forward(x, kernel, stride, padding, dilation, last):
    """(values, index) in x's layout (channels-last if `last`), or None."""
    if not (_float(x) and tiles_input(x.shape, kernel, stride, padding, dilation)):
        return None
    view = _working_view(x, last)
    if view is None or kernel[0] * kernel[1] > 256:
        return None
    n, c, h, w = x.shape
    kh, kw = kernel
    shape = (n, h // kh, w // kw, c) if last else (n, c, h // kh, w // kw)
    best = np.empty(shape, dtype=x.dtype)
    index = np.empty(shape, dtype=np.uint8)
    loop = kernels().max_pool_nhwc if last else kernels().max_pool_nchw
    loop(view, kh, kw, best, index)
    if last:
        return channels_last.nchw(best), channels_last.nchw(index)
    return best, index


def max_pool2d_backward(grad, index, input_shape, kernel, stride, padding, dilation, last):
    """The input gradient in index's layout, or None."""
    if not (_float(grad) and tiles_input(input_shape, kernel, stride, padding, dilation)):
        return None
    grad_view, index_view = _working_view(grad, last), _working_view(index, last)
    if grad_view is None or index_view is None or index.dtype != np.uint8:
        return None
    n, c, h, w = input_shape
    out = np.empty((n, h, w, c) if last else (n, c, h, w), dtype=grad.dtype)
    loop = kernels().max_unpool_nhwc if last else kernels().max_unpool_nchw
    loop(grad_view, index_view, kernel[0], kernel[1], out, grad.dtype.type(0))
    return channels_last.nchw(out) if last else out


def _flat(param, *state):
    """Flat views of a parameter, its gradient and state (None stays None), or None
    unless all are C-contiguous float arrays of the parameter's shape and dtype."""
    views = []
    for array in (param, *state):
        if array is None:
            views.append(None)
            continue
        if (array.shape != param.shape or array.dtype != param.dtype
                or not array.flags.c_contiguous or not _float(array)):
            return None
        views.append(array.reshape(-1))
    return views


def sgd_step(param, grad, momentum_buffer, options):
    """The SGD step in one pass over memory, in place: (param, buffer), or None."""
    momentum = options["momentum"]
    first = momentum != 0 and momentum_buffer is None
    if first:
        momentum_buffer = np.empty_like(param)
    flat = _flat(param, grad, momentum_buffer)
    if flat is None or not param.flags.writeable:
        return None
    scalar = param.dtype.type
    flat_param, flat_grad, flat_buffer = flat
    kernels().sgd_step(flat_param, flat_grad, flat_param if flat_buffer is None else flat_buffer,
                       scalar(options["lr"]), scalar(momentum),
                       scalar(1 - options["dampening"]), scalar(options["weight_decay"]),
                       bool(options["nesterov"]), bool(options["maximize"]), first)
    return param, momentum_buffer


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, options):
    """The Adam/AdamW step in one pass, in place: (param, *state), or None."""
    lr, (beta1, beta2), eps = options["lr"], options["betas"], options["eps"]
    weight_decay = options["weight_decay"]
    amsgrad = options["amsgrad"]
    flat = _flat(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None)
    if flat is None or not param.flags.writeable:
        return None
    decoupled = options.get("decoupled_weight_decay", False) and weight_decay != 0
    scalar = param.dtype.type
    flat_param, flat_grad, flat_avg, flat_avg_sq, flat_max = flat
    kernels().adam_step(flat_param, flat_grad, flat_avg, flat_avg_sq,
                        flat_avg_sq if flat_max is None else flat_max,
                        scalar(1 - beta1), scalar(beta2), scalar(1 - beta2), scalar(eps),
                        scalar(0.0 if decoupled else weight_decay),
                        scalar(1 - lr * weight_decay if decoupled else 1.0),
                        scalar(lr / (1 - beta1**step)), scalar(math.sqrt(1 - beta2**step)),
                        bool(amsgrad), bool(options["maximize"]))
    return param, exp_avg, exp_avg_sq, max_exp_avg_sq
