"""The CPU backend: NumPy through array-api-compat, with faster kernels."""

from __future__ import annotations

import math

import array_api_compat.numpy as xp_numpy
import numpy as np

from gradflow.backends.generic import Backend


class NumpyBackend(Backend):
    def __init__(self):
        super().__init__("cpu", xp_numpy, "cpu")

    def from_host(self, host, dtype=None):
        if dtype is None:
            return np.array(host, copy=True)
        return np.array(host, dtype=self.xp_dtype(dtype), copy=True)

    def to_host(self, array):
        return np.array(array, copy=True)

    def scatter_add_rows(self, values, index, size):
        # NOTE: np.add.at adds repeated indices sequentially in order of
        # occurrence, the same order as the generic kernel: identical sums.
        out = np.zeros((size, *values.shape[1:]), dtype=values.dtype)
        np.add.at(out, index, values)
        return out

    # -- optimizer steps: the generic math, in place with one scratch array ----
    # NOTE: hyperparameters arrive as Python floats, which NumPy treats as weak
    # scalars, so float32 arrays stay float32 through every in-place ufunc. Every
    # temporary is made with out=, since ufuncs on 0-d arrays return scalars.

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, nesterov,
                 weight_decay, maximize):
        d = _effective_grad(param, grad, weight_decay, maximize)
        if momentum != 0:
            if momentum_buffer is None:
                momentum_buffer = np.array(d, copy=True)
            else:
                momentum_buffer *= momentum
                if dampening == 0:
                    momentum_buffer += d
                else:
                    momentum_buffer += np.multiply(d, 1 - dampening, out=np.empty_like(d))
            if nesterov:
                scratch = np.multiply(momentum_buffer, momentum, out=np.empty_like(d))
                d = np.add(d, scratch, out=scratch)
            else:
                d = momentum_buffer
        owned = d is not grad and d is not momentum_buffer
        scratch = np.multiply(d, lr, out=d if owned else np.empty_like(d))
        param -= scratch
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
                  beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
        decoupled = decoupled_weight_decay and weight_decay != 0
        g = _effective_grad(param, grad, 0.0 if decoupled else weight_decay, maximize)
        if decoupled:
            param *= 1 - lr * weight_decay
        scratch = np.subtract(g, exp_avg, out=np.empty_like(param))
        scratch *= 1 - beta1
        exp_avg += scratch
        exp_avg_sq *= beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq += scratch
        second = exp_avg_sq
        if amsgrad:
            np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second = max_exp_avg_sq
        np.sqrt(second, out=scratch)
        scratch /= math.sqrt(1 - beta2**step)
        scratch += eps
        np.divide(exp_avg, scratch, out=scratch)
        scratch *= lr / (1 - beta1**step)
        param -= scratch
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                     weight_decay, momentum, centered, maximize):
        g = _effective_grad(param, grad, weight_decay, maximize)
        square_avg *= alpha
        scratch = np.multiply(g, g, out=np.empty_like(param))
        scratch *= 1 - alpha
        square_avg += scratch
        if centered:
            np.subtract(g, grad_avg, out=scratch)
            scratch *= 1 - alpha
            grad_avg += scratch
            np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, scratch, out=scratch)
            np.sqrt(scratch, out=scratch)
        else:
            np.sqrt(square_avg, out=scratch)
        scratch += eps
        np.divide(g, scratch, out=scratch)
        if momentum > 0:
            momentum_buffer *= momentum
            momentum_buffer += scratch
            np.multiply(momentum_buffer, lr, out=scratch)
        else:
            scratch *= lr
        param -= scratch
        return param, square_avg, grad_avg, momentum_buffer

    def adagrad_step(self, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps,
                     maximize):
        g = _effective_grad(param, grad, weight_decay, maximize)
        scratch = np.multiply(g, g, out=np.empty_like(param))
        state_sum += scratch
        np.sqrt(state_sum, out=scratch)
        scratch += eps
        np.divide(g, scratch, out=scratch)
        scratch *= lr / (1 + (step - 1) * lr_decay)
        param -= scratch
        return param, state_sum


def _effective_grad(param, grad, weight_decay, maximize):
    """-grad if maximize, plus weight_decay * param: a new array, or `grad` itself unchanged."""
    if weight_decay == 0:
        return np.negative(grad, out=np.empty_like(grad)) if maximize else grad
    d = np.multiply(param, weight_decay, out=np.empty_like(param))
    if maximize:
        np.subtract(d, grad, out=d)
    else:
        np.add(d, grad, out=d)
    return d
