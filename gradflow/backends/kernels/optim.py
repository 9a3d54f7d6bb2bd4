"""Optimizer updates written once with standard array-API calls.

Each takes a parameter, its gradient and its state arrays plus Python-float
hyperparameters, and returns the updated (param, *state). Where the backend is
`inplace`, the arrays passed in are overwritten and returned; else new ones are.
"""

from __future__ import annotations

import math
from typing import Any


class OptimizerKernels:
    """SGD, Adam/AdamW, RMSprop and Adagrad steps; mixed into Backend (needs xp, inplace)."""

    # the core backend's (core.py)
    xp: Any
    inplace: bool

    def write_back(self, target, value):
        """`value` written into `target` where arrays are mutable (returns target), else value."""
        if self.inplace:
            target[...] = value
            return target
        return value

    def sgd_step(self, param, grad, momentum_buffer, options):
        """One SGD step; `momentum_buffer` is None on the first step. Returns (param, buffer)."""
        lr, momentum, dampening = options["lr"], options["momentum"], options["dampening"]
        nesterov, weight_decay = options["nesterov"], options["weight_decay"]
        maximize = options["maximize"]
        d = -grad if maximize else grad
        if weight_decay != 0:
            d = d + weight_decay * param
        if momentum != 0:
            if momentum_buffer is None:
                momentum_buffer = self.xp.asarray(d, copy=True)
            else:
                momentum_buffer = self.write_back(
                    momentum_buffer, momentum * momentum_buffer + (1 - dampening) * d)
            d = d + momentum * momentum_buffer if nesterov else momentum_buffer
        return self.write_back(param, param - lr * d), momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, options):
        """One Adam/AdamW step (`step` counts from 1); `max_exp_avg_sq` is None without amsgrad.

        Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq).
        """
        lr, (beta1, beta2), eps = options["lr"], options["betas"], options["eps"]
        weight_decay, amsgrad = options["weight_decay"], options["amsgrad"]
        maximize = options["maximize"]
        decoupled_weight_decay = options.get("decoupled_weight_decay", False)
        xp = self.xp
        g = -grad if maximize else grad
        base = param
        if weight_decay != 0:
            if decoupled_weight_decay:
                base = param * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * param
        exp_avg = self.write_back(exp_avg, exp_avg + (1 - beta1) * (g - exp_avg))
        exp_avg_sq = self.write_back(exp_avg_sq, beta2 * exp_avg_sq + (1 - beta2) * (g * g))
        second = exp_avg_sq
        if amsgrad:
            max_exp_avg_sq = self.write_back(max_exp_avg_sq, xp.maximum(max_exp_avg_sq, exp_avg_sq))
            second = max_exp_avg_sq
        step_size = lr / (1 - beta1**step)
        denom = xp.sqrt(second) / math.sqrt(1 - beta2**step) + eps
        param = self.write_back(param, base - step_size * (exp_avg / denom))
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, options):
        """One RMSprop step; `grad_avg` is None unless centered, `momentum_buffer` unless
        momentum > 0. Returns (param, square_avg, grad_avg, momentum_buffer)."""
        lr, alpha, eps = options["lr"], options["alpha"], options["eps"]
        weight_decay, momentum = options["weight_decay"], options["momentum"]
        centered, maximize = options["centered"], options["maximize"]
        xp = self.xp
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        square_avg = self.write_back(square_avg, alpha * square_avg + (1 - alpha) * (g * g))
        if centered:
            grad_avg = self.write_back(grad_avg, grad_avg + (1 - alpha) * (g - grad_avg))
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = xp.sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = self.write_back(momentum_buffer, momentum * momentum_buffer + g / avg)
            update = momentum_buffer
        else:
            update = g / avg
        return self.write_back(param, param - lr * update), square_avg, grad_avg, momentum_buffer

    def adagrad_step(self, param, grad, state_sum, step, options):
        """One Adagrad step (`step` counts from 1). Returns (param, state_sum)."""
        lr, lr_decay, eps = options["lr"], options["lr_decay"], options["eps"]
        weight_decay, maximize = options["weight_decay"], options["maximize"]
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = self.write_back(state_sum, state_sum + g * g)
        std = self.xp.sqrt(state_sum) + eps
        return self.write_back(param, param - clr * (g / std)), state_sum
