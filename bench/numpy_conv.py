"""3x3 convolution and 2x2 max-pooling blocks for the NumPy CNN reference (NHWC, float32).

Everything is preallocated for one batch size. Convolutions are im2col plus one matmul. The
layouts are picked so that NumPy's inner loops run over long contiguous stretches: an
elementwise op whose innermost run is only C=32 floats long pays the per-loop overhead every
128 bytes and runs several times slower than the same op on contiguous memory.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

DTYPE = np.float32

# Corners of a 2x2 pooling window in row-major order (PyTorch's tie-breaking order).
POOL_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))

# For a 3x3 kernel with padding 1, tap k of output row o reads input row o + k - 1. Summing
# the per-tap input gradients back (col2im) adds output rows `source` into input rows `target`.
_TAP_TARGET_SOURCE = {
    0: (slice(0, -1), slice(1, None)),
    1: (slice(None), slice(None)),
    2: (slice(1, None), slice(0, -1)),
}


class Conv3x3:
    """3x3, stride 1, padding 1 convolution, NHWC in and out, with input gradient.

    The caller writes the input into ``interior`` (a view into a zero-bordered buffer), so a
    producer can write its output there directly. Weights are (3, 3, in, out).
    """

    def __init__(self, batch: int, height: int, width: int, in_ch: int, out_ch: int) -> None:
        self.in_ch, self.out_ch = in_ch, out_ch
        rows = batch * height * width
        self.padded = np.zeros((batch, height + 2, width + 2, in_ch), DTYPE)
        self.interior = self.padded[:, 1:-1, 1:-1, :]
        windows = sliding_window_view(self.padded, (3, 3), axis=(1, 2))
        # (n, h, w, c, kh, kw) -> (n, h, w, kh, kw, c): a view; the copy happens in forward.
        self.windows = windows.transpose(0, 1, 2, 4, 5, 3)
        self.columns = np.empty((batch, height, width, 3, 3, in_ch), DTYPE)
        self.column_matrix = self.columns.reshape(rows, 9 * in_ch)
        self.output = np.empty((batch, height, width, out_ch), DTYPE)
        self.output_matrix = self.output.reshape(rows, out_ch)
        self.output_grad = np.empty_like(self.output)
        self.output_grad_matrix = self.output_grad.reshape(rows, out_ch)
        # Input gradient of each tap separately, (kh, kw, n, h, w, c): long contiguous runs
        # for col2im, unlike the (n, h, w, kh, kw, c) rows of a single big matmul.
        self.tap_grads = np.empty((3, 3, batch, height, width, in_ch), DTYPE)
        self.tap_grads_batched = self.tap_grads.reshape(9, rows, in_ch)

    def forward(self, weight: np.ndarray) -> np.ndarray:
        """Input must already be in ``interior``. Returns the (bias-free) output."""
        np.copyto(self.columns, self.windows)
        weight_matrix = weight.reshape(9 * self.in_ch, self.out_ch)
        np.matmul(self.column_matrix, weight_matrix, out=self.output_matrix)
        return self.output

    def backward(self, weight: np.ndarray, weight_grad: np.ndarray, input_grad: np.ndarray) -> None:
        """From ``output_grad``: write the weight gradient and the input gradient."""
        weight_grad_matrix = weight_grad.reshape(9 * self.in_ch, self.out_ch)
        np.matmul(self.column_matrix.T, self.output_grad_matrix, out=weight_grad_matrix)
        # One batched matmul: (rows, out) @ (9, out, in) -> (9, rows, in).
        per_tap_weight_t = weight.reshape(9, self.in_ch, self.out_ch).transpose(0, 2, 1)
        np.matmul(self.output_grad_matrix, per_tap_weight_t, out=self.tap_grads_batched)
        # col2im: the centre tap covers every input pixel, so it initialises input_grad.
        np.copyto(input_grad, self.tap_grads[1, 1])
        for kh in range(3):
            rows_to, rows_from = _TAP_TARGET_SOURCE[kh]
            for kw in range(3):
                if kh == 1 and kw == 1:
                    continue
                cols_to, cols_from = _TAP_TARGET_SOURCE[kw]
                taps = self.tap_grads[kh, kw, :, rows_from, cols_from]
                input_grad[:, rows_to, cols_to, :] += taps

    def corners(self, array: np.ndarray) -> list[np.ndarray]:
        """The four 2x2-pooling corner views of ``output`` or ``output_grad``."""
        return [array[:, dh::2, dw::2, :] for dh, dw in POOL_CORNERS]


class CornerMajorConv3x3:
    """3x3, stride 1, padding 1 convolution for a first layer followed by 2x2 pooling.

    Output rows are ordered (corner, n, h/2, w/2) instead of (n, h, w): ``output[k]`` holds
    pooling corner ``POOL_CORNERS[k]`` of every window as one contiguous block, so pooling
    is four contiguous elementwise passes. The im2col matrix is built transposed, rows
    (kh, kw, c), which for one input channel copies runs of w/2 floats instead of 3. No input
    gradient (the input is data). Weights are (3, 3, in, out).
    """

    def __init__(self, batch: int, height: int, width: int, in_ch: int, out_ch: int) -> None:
        self.in_ch, self.out_ch = in_ch, out_ch
        half_h, half_w = height // 2, width // 2
        self.padded = np.zeros((batch, height + 2, width + 2, in_ch), DTYPE)
        self.interior = self.padded[:, 1:-1, 1:-1, :]
        s_n, s_h, s_w, s_c = self.padded.strides
        # Element [kh, kw, c, dh, dw, n, i, j] = padded[n, 2i + dh + kh, 2j + dw + kw, c].
        self.windows = as_strided(
            self.padded,
            shape=(3, 3, in_ch, 2, 2, batch, half_h, half_w),
            strides=(s_h, s_w, s_c, s_h, s_w, s_n, 2 * s_h, 2 * s_w),
            writeable=False,
        )
        self.columns_t = np.empty(self.windows.shape, DTYPE)
        self.columns_t_matrix = self.columns_t.reshape(9 * in_ch, -1)
        self.output = np.empty((4, batch, half_h, half_w, out_ch), DTYPE)
        self.output_matrix = self.output.reshape(-1, out_ch)
        self.output_grad = np.empty_like(self.output)
        self.output_grad_matrix = self.output_grad.reshape(-1, out_ch)

    def forward(self, weight: np.ndarray) -> np.ndarray:
        """Input must already be in ``interior``. Returns the (bias-free) output."""
        np.copyto(self.columns_t, self.windows)
        weight_matrix = weight.reshape(9 * self.in_ch, self.out_ch)
        np.matmul(self.columns_t_matrix.T, weight_matrix, out=self.output_matrix)
        return self.output

    def backward(self, weight_grad: np.ndarray) -> None:
        """From ``output_grad``: write the weight gradient."""
        weight_grad_matrix = weight_grad.reshape(9 * self.in_ch, self.out_ch)
        np.matmul(self.columns_t_matrix, self.output_grad_matrix, out=weight_grad_matrix)

    def corners(self, array: np.ndarray) -> list[np.ndarray]:
        """The four pooling-corner blocks of ``output`` or ``output_grad``."""
        return list(array)


class MaxPool2x2:
    """2x2, stride 2 max pooling that remembers which corner won each window.

    Works on any four same-shaped corner arrays (strided views or contiguous blocks).
    """

    def __init__(self, pooled_shape: tuple[int, ...]) -> None:
        self.argmax = np.empty(pooled_shape, np.uint8)
        self.better = np.empty(pooled_shape, np.bool_)
        self.candidate = np.empty(pooled_shape, np.uint8)

    def forward(self, corners: list[np.ndarray], pooled: np.ndarray) -> None:
        np.copyto(pooled, corners[0])
        self.argmax.fill(0)
        for index in range(1, 4):
            # NOTE: strictly greater, so the first maximum in row-major order wins a tie, as in
            # PyTorch; ties are real (zero-padded borders, blank image regions).
            np.greater(corners[index], pooled, out=self.better)
            np.maximum(pooled, corners[index], out=pooled)
            # Corner indices only grow, so max(argmax, better * index) sets argmax = index
            # where better. Branch-free: copyto(where=) with a random mask is ~10x slower.
            np.multiply(self.better, np.uint8(index), out=self.candidate)
            np.maximum(self.argmax, self.candidate, out=self.argmax)

    def backward(self, pooled_grad: np.ndarray, corner_grads: list[np.ndarray]) -> None:
        """Route each window's gradient to its winning corner; every corner element is set."""
        for index, corner_grad in enumerate(corner_grads):
            np.equal(self.argmax, index, out=self.better)
            np.multiply(pooled_grad, self.better, out=corner_grad)
