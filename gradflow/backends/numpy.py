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
    # scalars, so float32 arrays stay float32 through every in-place ufunc.

    def sgd_step(self, param, grad, momentum_buffer, lr, momentum, dampening, nesterov,
                 weight_decay, maximize):
        d = grad
        if weight_decay != 0:
            d = np.multiply(param, weight_decay)
            if maximize:
                np.subtract(d, grad, out=d)
            else:
                np.add(d, grad, out=d)
        elif maximize:
            d = np.negative(grad)
        if momentum != 0:
            if momentum_buffer is None:
                momentum_buffer = np.array(d, copy=True)
            else:
                momentum_buffer *= momentum
                if dampening == 0:
                    momentum_buffer += d
                else:
                    momentum_buffer += np.multiply(d, 1 - dampening)
            if nesterov:
                d = np.add(d, np.multiply(momentum_buffer, momentum))
            else:
                d = momentum_buffer
        scratch = np.multiply(d, lr, out=None if d is grad or d is momentum_buffer else d)
        param -= scratch
        return param, momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
                  beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
        g = np.negative(grad) if maximize else grad
        if weight_decay != 0:
            if decoupled_weight_decay:
                param *= 1 - lr * weight_decay
            else:
                g = np.add(g, np.multiply(param, weight_decay))
        scratch = np.subtract(g, exp_avg)
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
        g = np.negative(grad) if maximize else grad
        if weight_decay != 0:
            g = np.add(g, np.multiply(param, weight_decay))
        square_avg *= alpha
        scratch = np.multiply(g, g)
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
        g = np.negative(grad) if maximize else grad
        if weight_decay != 0:
            g = np.add(g, np.multiply(param, weight_decay))
        scratch = np.multiply(g, g)
        state_sum += scratch
        np.sqrt(state_sum, out=scratch)
        scratch += eps
        np.divide(g, scratch, out=scratch)
        scratch *= lr / (1 + (step - 1) * lr_decay)
        param -= scratch
        return param, state_sum
