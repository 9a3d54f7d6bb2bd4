"""Fused CPU loops compiled by numba: one pass over memory where NumPy makes several.

Imported only through gradflow/backends/fused.py, which sets NUMBA_CACHE_DIR first. Every
function compiles on its first call for the argument types it gets (`cache=True` keeps the
machine code on disk, so later processes load it in milliseconds) and runs on the calling
thread: no numba thread pool, so nothing spins on a second core after the kernel returns.
Each loop computes what the generic kernel (gradflow/backends/kernels/) computes, in the
same order, with scalars cast to the arrays' dtype by the caller (fused.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True)


# -- max pooling over tiling windows (stride == kernel, no padding, no dilation) ---------
# NOTE: as the generic kernel: a later offset wins only if strictly greater (the first
# maximum wins a tie), a NaN value makes the maximum NaN and leaves the index on the
# maximum seen before it, and nothing beats a NaN maximum.


@_jit
def max_pool_nchw(x, kh, kw, best, index):
    n, c, ho, wo = best.shape
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    top, left = i * kh, j * kw
                    m = x[a, b, top, left]
                    k = 0
                    for r in range(1, kh * kw):
                        v = x[a, b, top + r // kw, left + r % kw]
                        if v > m:
                            m = v
                            k = r
                        elif v != v:
                            m = v
                    best[a, b, i, j] = m
                    index[a, b, i, j] = k


@_jit
def max_pool_nhwc(x, kh, kw, best, index):
    n, ho, wo, c = best.shape
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                top, left = i * kh, j * kw
                for ch in range(c):
                    best[a, i, j, ch] = x[a, top, left, ch]
                    index[a, i, j, ch] = 0
                for r in range(1, kh * kw):
                    row, col = top + r // kw, left + r % kw
                    for ch in range(c):
                        v = x[a, row, col, ch]
                        m = best[a, i, j, ch]
                        if v > m:
                            best[a, i, j, ch] = v
                            index[a, i, j, ch] = r
                        elif v != v:
                            best[a, i, j, ch] = v


@_jit
def max_unpool_nchw(grad, index, kh, kw, out, zero):
    """out (N, C, H, W): each window's gradient at its winner, 0 elsewhere (every element
    written once; a NaN gradient reaches only its winner, as where() does)."""
    n, c, ho, wo = grad.shape
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    g = grad[a, b, i, j]
                    k = index[a, b, i, j]
                    for r in range(kh * kw):
                        out[a, b, i * kh + r // kw, j * kw + r % kw] = g if r == k else zero


@_jit
def max_unpool_nhwc(grad, index, kh, kw, out, zero):
    """max_unpool_nchw on (N, H, W, C) arrays."""
    n, ho, wo, c = grad.shape
    for a in range(n):
        for i in range(ho):
            for j in range(wo):
                for r in range(kh * kw):
                    row, col = i * kh + r // kw, j * kw + r % kw
                    for ch in range(c):
                        g = grad[a, i, j, ch]
                        out[a, row, col, ch] = g if index[a, i, j, ch] == r else zero


# -- optimizer updates, in place on flat arrays ---------------------------------------------


@_jit
def sgd_step(param, grad, buffer, lr, momentum, keep, weight_decay, nesterov, maximize,
             first):
    """The generic SGD step; `keep` is 1 - dampening; `buffer` is used when momentum != 0
    and filled with the effective gradient when `first`."""
    for i in range(param.size):
        d = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            if first:
                buffer[i] = d
            else:
                buffer[i] = momentum * buffer[i] + keep * d
            d = d + momentum * buffer[i] if nesterov else buffer[i]
        param[i] = param[i] - lr * d


@_jit
def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, keep1, beta2, keep2, eps,
              weight_decay, decay, step_size, bias2_root, amsgrad, maximize):
    """The generic Adam/AdamW step. `keep1`, `keep2` are 1 - beta1, 1 - beta2;
    `weight_decay` is the coupled (L2) term, `decay` the decoupled factor
    1 - lr * weight_decay (1 without); `step_size` is lr / (1 - beta1**t) and
    `bias2_root` sqrt(1 - beta2**t)."""
    for i in range(param.size):
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + weight_decay * param[i]
        m = exp_avg[i] + keep1 * (g - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + keep2 * (g * g)
        exp_avg[i] = m
        exp_avg_sq[i] = v
        if amsgrad:
            top = max_exp_avg_sq[i]
            if v > top or v != v:
                top = v
            max_exp_avg_sq[i] = top
            v = top
        denom = np.sqrt(v) / bias2_root + eps
        param[i] = param[i] * decay - step_size * (m / denom)
