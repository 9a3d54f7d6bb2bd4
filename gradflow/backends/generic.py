"""The generic backend: every kernel written once with standard array-API calls.

Subclasses (numpy.py, cupy.py) override only the kernels they make faster and
are tested against these versions; they never change results beyond rounding.
"""

from __future__ import annotations

import math

import numpy as np

from gradflow import dtypes as _dt
from gradflow.errors import DTypeError

# Backend code may use NumPy for host transfers (DESIGN.md contract 1).


class Backend:
    """An array namespace on one device, plus kernels.

    Attributes:
        name: canonical device name ("cpu", "strict:device1", "cuda:0").
        xp: the array-API namespace.
        device: the namespace's device object, passed to creation functions.
    """

    inplace = True  # arrays accept in-place updates (x[...] = v, x += v)

    def __init__(self, name: str, xp, device):
        self.name = name
        self.xp = xp
        self.device = device
        self.to_xp: dict[_dt.DType, object] = {}
        self.from_xp: dict[object, _dt.DType] = {}
        for dtype in _dt.ALL:
            xp_dtype = getattr(xp, dtype.name, None)
            if xp_dtype is None:
                continue
            try:
                probe = xp.zeros((1,), dtype=xp_dtype, device=device)
            except Exception:  # the device lacks it (strict:no_float64)
                continue
            self.to_xp[dtype] = xp_dtype
            self.from_xp[probe.dtype] = dtype
        self.default_float = _dt.float32
        self.float_dtypes = frozenset(
            xp_dtype for xp_dtype, dtype in self.from_xp.items() if dtype.is_floating_point
        )
        self.index_dtype = self.to_xp.get(_dt.int64, xp.int32 if hasattr(xp, "int32") else None)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    # -- dtypes and transfers -------------------------------------------------

    def xp_dtype(self, dtype: _dt.DType):
        """The namespace's dtype for a gradflow dtype, or a DTypeError naming the device."""
        try:
            return self.to_xp[dtype]
        except KeyError:
            if isinstance(dtype, str):
                return self.xp_dtype(_dt.by_name(dtype))
            if not isinstance(dtype, _dt.DType):
                raise DTypeError(f"expected a gradflow dtype such as gf.float32, got {dtype!r}") from None
            have = ", ".join(d.name for d in self.to_xp)
            raise DTypeError(
                f"device {self.name!r} has no {dtype.name}; it supports {have}"
            ) from None

    def dtype_of(self, array) -> _dt.DType:
        return self.from_xp[array.dtype]

    def from_host(self, host: np.ndarray, dtype: _dt.DType | None = None):
        """Copy a NumPy array onto this device (optionally casting)."""
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        return self.xp.asarray(host, dtype=xp_dtype, device=self.device)

    def to_host(self, array) -> np.ndarray:
        """A NumPy copy of an array of this backend."""
        return np.asarray(array).copy()

    # -- kernels --------------------------------------------------------------

    def scatter_add_rows(self, values, index, size: int):
        """out[index[i]] += values[i] along axis 0, deterministically.

        NOTE: repeated indices are added in the order they occur, exactly as a
        sequential loop would. Each round adds at most one value per target row
        through a 0/1 matrix product, which is exact whatever the BLAS order,
        so every backend gives bit-identical sums.
        """
        xp = self.xp
        n = index.shape[0]
        trailing = values.shape[1:]
        flat = xp.reshape(values, (n, -1))
        out = xp.zeros((size, flat.shape[1]), dtype=values.dtype, device=self.device)
        if n == 0:
            return xp.reshape(out, (size, *trailing))
        order = xp.argsort(index, stable=True)
        sorted_index = xp.take(index, order)
        # rank of each occurrence within its group of equal indices
        positions = xp.arange(n, dtype=self.index_dtype, device=self.device)
        is_start = xp.concat(
            [xp.ones((1,), dtype=xp.bool, device=self.device), sorted_index[1:] != sorted_index[:-1]]
        )
        group_start = xp.cumulative_sum(xp.astype(is_start, self.index_dtype)) - 1
        first_position = xp.take(positions[is_start], group_start)
        rank_sorted = positions - first_position
        rank = xp.take(rank_sorted, xp.argsort(order, stable=True))
        targets = xp.arange(size, dtype=index.dtype, device=self.device)
        for r in range(int(xp.max(rank)) + 1):
            chosen = rank == r
            rows = xp.nonzero(chosen)[0]
            one_hot = xp.astype(xp.take(index, rows)[None, :] == targets[:, None], values.dtype)
            out = out + one_hot @ xp.take(flat, rows, axis=0)
        return xp.reshape(out, (size, *trailing))

    # -- optimizer steps --------------------------------------------------------
    # Each takes a parameter, its gradient and its state arrays plus Python-float
    # hyperparameters, and returns the updated (param, *state). Where `inplace`,
    # the arrays passed in are overwritten and returned; else new ones are.

    def _write(self, target, value):
        if self.inplace:
            target[...] = value
            return target
        return value

    def sgd_step(self, param, grad, momentum_buffer, lr: float, momentum: float,
                 dampening: float, nesterov: bool, weight_decay: float, maximize: bool):
        """One SGD step; `momentum_buffer` is None on the first step. Returns (param, buffer)."""
        d = -grad if maximize else grad
        if weight_decay != 0:
            d = d + weight_decay * param
        if momentum != 0:
            if momentum_buffer is None:
                momentum_buffer = self.xp.asarray(d, copy=True)
            else:
                momentum_buffer = self._write(
                    momentum_buffer, momentum * momentum_buffer + (1 - dampening) * d)
            d = d + momentum * momentum_buffer if nesterov else momentum_buffer
        return self._write(param, param - lr * d), momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float,
                  beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool,
                  maximize: bool, decoupled_weight_decay: bool):
        """One Adam/AdamW step (`step` counts from 1); `max_exp_avg_sq` is None without amsgrad.

        Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq).
        """
        xp = self.xp
        g = -grad if maximize else grad
        base = param
        if weight_decay != 0:
            if decoupled_weight_decay:
                base = param * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * param
        exp_avg = self._write(exp_avg, exp_avg + (1 - beta1) * (g - exp_avg))
        exp_avg_sq = self._write(exp_avg_sq, beta2 * exp_avg_sq + (1 - beta2) * (g * g))
        second = exp_avg_sq
        if amsgrad:
            max_exp_avg_sq = self._write(max_exp_avg_sq, xp.maximum(max_exp_avg_sq, exp_avg_sq))
            second = max_exp_avg_sq
        step_size = lr / (1 - beta1**step)
        denom = xp.sqrt(second) / math.sqrt(1 - beta2**step) + eps
        param = self._write(param, base - step_size * (exp_avg / denom))
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr: float,
                     alpha: float, eps: float, weight_decay: float, momentum: float,
                     centered: bool, maximize: bool):
        """One RMSprop step; `grad_avg` is None unless centered, `momentum_buffer` unless
        momentum > 0. Returns (param, square_avg, grad_avg, momentum_buffer)."""
        xp = self.xp
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        square_avg = self._write(square_avg, alpha * square_avg + (1 - alpha) * (g * g))
        if centered:
            grad_avg = self._write(grad_avg, grad_avg + (1 - alpha) * (g - grad_avg))
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = xp.sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = self._write(momentum_buffer, momentum * momentum_buffer + g / avg)
            update = momentum_buffer
        else:
            update = g / avg
        return self._write(param, param - lr * update), square_avg, grad_avg, momentum_buffer

    def adagrad_step(self, param, grad, state_sum, step: int, lr: float, lr_decay: float,
                     weight_decay: float, eps: float, maximize: bool):
        """One Adagrad step (`step` counts from 1). Returns (param, state_sum)."""
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = self._write(state_sum, state_sum + g * g)
        std = self.xp.sqrt(state_sum) + eps
        return self._write(param, param - clr * (g / std)), state_sum
