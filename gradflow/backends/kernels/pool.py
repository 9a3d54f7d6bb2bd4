"""Pooling kernels written once with standard array-API calls."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from gradflow.backends.geometry import conv_output_hw, pool_windows

if TYPE_CHECKING:
    from gradflow.backends.kernels.conv import ConvKernels


class PoolKernels:
    """max and average pooling and their gradients; mixed into Backend (needs xp, device,
    workspace, and ConvKernels' _padded, _accumulator and _interior)."""

    if TYPE_CHECKING:  # the core backend's and ConvKernels'
        xp: Any
        device: Any
        _padded = ConvKernels._padded
        _accumulator = ConvKernels._accumulator
        _interior = ConvKernels._interior

    def max_pool2d_forward(self, x, kernel, stride, padding, dilation):
        """(values, index) of each window's maximum; index is the kernel offset i*kw + j.

        NOTE: the first maximum in row-major window order wins a tie, as in PyTorch, so
        the gradient goes to one element. A NaN makes the value NaN (maximum propagates
        it); the index then stays on the maximum seen before it.
        """
        xp = self.xp
        fill = -math.inf if xp.isdtype(x.dtype, "real floating") else xp.iinfo(x.dtype).min
        padded = self._padded(x, padding, fill, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, dilation)
        index_dtype = xp.uint8 if kernel[0] * kernel[1] <= 256 else xp.int32
        index = xp.zeros((*x.shape[:2], *out_hw), dtype=index_dtype, device=self.device)
        best = None
        for r, window in enumerate(pool_windows(kernel, stride, dilation, out_hw)):
            value = padded[window]
            if best is None:
                best = value
                continue
            better = value > best
            best = xp.maximum(best, value)
            index = xp.where(better, xp.asarray(r, dtype=index_dtype, device=self.device), index)
        if kernel == (1, 1):
            best = xp.asarray(best, copy=True)
        return best, index

    def max_pool2d_values(self, x, kernel, stride, padding, dilation):
        """The values of max_pool2d_forward without the index (when no gradient is needed)."""
        xp = self.xp
        fill = -math.inf if xp.isdtype(x.dtype, "real floating") else xp.iinfo(x.dtype).min
        padded = self._padded(x, padding, fill, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, dilation)
        best = None
        for window in pool_windows(kernel, stride, dilation, out_hw):
            best = padded[window] if best is None else xp.maximum(best, padded[window])
        if kernel == (1, 1):
            best = xp.asarray(best, copy=True)
        return best

    def max_pool2d_backward(self, grad, index, input_shape, kernel, stride, padding, dilation):
        """Route each window's gradient to its winning element (the adjoint of the gather)."""
        xp = self.xp
        n, c, h, w = input_shape
        top, bottom, left, right = padding
        padded = self._accumulator("pool.padded", (n, c, top + h + bottom, left + w + right),
                                   grad.dtype, any(padding))
        zero = xp.zeros((), dtype=grad.dtype, device=self.device)
        for r, window in enumerate(pool_windows(kernel, stride, dilation, grad.shape[2:])):
            padded[window] += xp.where(index == r, grad, zero)
        return self._interior(padded, input_shape, padding)

    def max_pool2d_gather(self, values, index, kernel, stride, padding, dilation):
        """values (N, C, H, W) at each window's winning position: (N, C, Ho, Wo)."""
        xp = self.xp
        padded = self._padded(values, padding, 0, scratch="pool.padded")
        out = xp.zeros(index.shape, dtype=values.dtype, device=self.device)
        for r, window in enumerate(pool_windows(kernel, stride, dilation, index.shape[2:])):
            out = xp.where(index == r, padded[window], out)
        return out

    def avg_pool2d_forward(self, x, kernel, stride, padding, divisor):
        """Window sums divided by `divisor` (a float, or an array broadcasting to (Ho, Wo))."""
        xp = self.xp
        padded = self._padded(x, padding, 0, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, (1, 1))
        total = None
        for window in pool_windows(kernel, stride, (1, 1), out_hw):
            value = padded[window]
            total = xp.asarray(value, copy=True) if total is None else total + value
        return total / divisor

    def avg_pool2d_backward(self, grad, input_shape, kernel, stride, padding, divisor):
        """The adjoint of avg_pool2d_forward: grad / divisor spread over each window."""
        n, c, h, w = input_shape
        top, bottom, left, right = padding
        padded = self._accumulator("pool.padded", (n, c, top + h + bottom, left + w + right),
                                   grad.dtype, any(padding))
        share = grad / divisor
        for window in pool_windows(kernel, stride, (1, 1), grad.shape[2:]):
            padded[window] += share
        return self._interior(padded, input_shape, padding)
