"""Convolution on the CPU in channels-last memory: the NumPy backend's conv2d kernels.

Tensors stay (N, C, H, W) in shape; only the memory behind them changes. conv2d's output
is the matmul (N*Ho*Wo, kh*kw*C) @ (kh*kw*C, O) of im2col rows by the weight, which is
(N, Ho, Wo, O) in memory, handed out as its (N, O, Ho, Wo) transposed view: no copy into
NCHW order. Elementwise ops (NumPy's ufuncs keep their inputs' memory order), pooling
(gradflow/backends/numpy.py) and the next convolution's im2col then all read channels-last
memory, where every window of every channel is a contiguous run of C values. This is
PyTorch's channels_last, chosen here for every conv2d with groups=1.

The values are the generic kernels' up to float rounding: the same products are summed,
in a different order inside the matmul (tests/backends/test_kernels.py bounds the
difference).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gradflow.backends.geometry import conv_output_hw


def uses_channels_last(groups: int) -> bool:
    """Whether conv2d runs here (groups=1) or in the generic kernels."""
    return groups == 1


def nhwc(array):
    """The (N, H, W, C) view of an (N, C, H, W) array (no copy)."""
    return array.transpose(0, 2, 3, 1)


def nchw(array):
    """The (N, C, H, W) view of an (N, H, W, C) array (no copy)."""
    return array.transpose(0, 3, 1, 2)


def is_channels_last(array) -> bool:
    """Whether an (N, C, H, W) array is laid out as a C-contiguous (N, H, W, C) one."""
    return array.ndim == 4 and nhwc(array).flags.c_contiguous


def conv2d_forward(backend, x, weight, bias, stride, padding, dilation, keep_columns):
    """(output (N, O, Ho, Wo) in channels-last memory, im2col rows or None)."""
    n = x.shape[0]
    o = weight.shape[0]
    ho, wo = conv_output_hw(x.shape, weight.shape[2:], stride, padding, dilation)
    columns = im2col(backend, x, weight.shape[2:], stride, padding, dilation)
    out = backend.matmul(columns, weight_matrix(weight))
    if bias is not None:
        out += bias
    out = nchw(out.reshape(n, ho, wo, o))
    if keep_columns:
        return out, columns
    backend.recycle(columns)
    return out, None


def conv2d_backward_weight(backend, x, grad, weight_shape, stride, padding, dilation,
                           columns):
    """d(loss)/d(weight) (O, C, kh, kw), from the forward's im2col rows when kept."""
    if columns is None:
        columns = im2col(backend, x, weight_shape[2:], stride, padding, dilation)
    product = backend.matmul(columns.T, grad_matrix(backend, grad), "conv.weight_grads")
    o, c, kh, kw = weight_shape
    return np.ascontiguousarray(product.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))


def conv2d_backward_input(backend, grad, weight, input_shape, stride, padding, dilation):
    """d(loss)/d(input) (N, C, H, W) in channels-last memory: a transposed convolution.

    One product per kernel tap, (N*Ho*Wo, O) @ (O, C), so that each tap's contribution is
    one contiguous (N, Ho, Wo, C) block; the blocks are then added straight into the input
    gradient where their positions fall inside the image (col2im without a padded buffer).
    A tap that covers the whole image (the centre tap of a "same" convolution) is copied
    in first instead of added to zeros.
    """
    n, c, h, w = input_shape
    o, _, kh, kw = weight.shape
    ho, wo = grad.shape[2:]
    g = grad_matrix(backend, grad)
    per_tap = weight.transpose(2, 3, 0, 1).reshape(kh * kw, o, c)
    taps = backend.matmul(g, per_tap, "conv.column_grads").reshape(kh * kw, n, ho, wo, c)
    spans = []
    for i in range(kh):
        rows = _tap_span(i, dilation[0], stride[0], padding[0], h, ho)
        for j in range(kw):
            cols = _tap_span(j, dilation[1], stride[1], padding[2], w, wo)
            if rows is not None and cols is not None:
                spans.append((i * kw + j, rows, cols))
    whole = slice(0, h, 1), slice(0, w, 1)
    out = np.empty((n, h, w, c), dtype=grad.dtype)
    first = next((span for span in spans if (span[1][0], span[2][0]) == whole), None)
    if first is None:
        out.fill(0)
        copied = None
    else:
        copied, (_, rows_from), (_, cols_from) = first
        np.copyto(out, taps[copied][:, rows_from, cols_from])
    for tap, (rows_to, rows_from), (cols_to, cols_from) in spans:
        if tap != copied:
            out[:, rows_to, cols_to] += taps[tap][:, rows_from, cols_from]
    return nchw(out)


def _tap_span(k, step, stride, pad, size, out_size):
    """Kernel offset k along one axis: (input slice, output slice) of the output positions
    whose tap k falls inside the input, or None when none does."""
    first = max(0, -(-(pad - k * step) // stride))
    last = min(out_size - 1, (size - 1 + pad - k * step) // stride)
    if last < first:
        return None
    start = first * stride + k * step - pad
    return slice(start, start + stride * (last - first) + 1, stride), slice(first, last + 1)


def im2col(backend, x, kernel, stride, padding, dilation):
    """The windows of x (N, C, H, W) as rows: (N*Ho*Wo, kh*kw*C), columns ordered (kh, kw, C),
    in either memory order.

    One copy from a strided view of the zero-padded input in channels-last memory (made
    once per call unless x is already channels-last and needs no padding).
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
    source = nhwc(x)
    if any(padding) or not (c == 1 or source.flags.c_contiguous):
        source = padded(backend, source, padding, 0, "im2col.padded")
    step_n, step_h, step_w, step_c = source.strides
    rows, taps = (n, ho, wo), (kh, kw, c)
    row_strides, tap_strides = (step_n, sh * step_h, sw * step_w), (dh * step_h, dw * step_w,
                                                                      step_c)
    # NOTE: the copy's innermost run is kw*C values in (rows, taps) order, or Wo in
    # (taps, rows) order: for few channels (a first layer) the columns are built
    # transposed, 10x faster for one channel, and handed out as the .T view (matmul
    # takes either memory order).
    if c * (kw if dw == 1 else 1) < (wo if sw == 1 else 1):
        windows = as_strided(source, taps + rows, tap_strides + row_strides, writeable=False)
        columns = backend.workspace.columns((kh * kw * c, n * ho * wo), x.dtype)
        np.copyto(columns.reshape(windows.shape), windows)
        return columns.T
    windows = as_strided(source, rows + taps, row_strides + tap_strides, writeable=False)
    columns = backend.workspace.columns((n * ho * wo, kh * kw * c), x.dtype)
    np.copyto(columns.reshape(windows.shape), windows)
    return columns


def padded(backend, view, padding, fill, name):
    """An (N, H, W, C) view copied into a scratch buffer inside a border of `fill`
    (written once: the border, then the interior)."""
    top, bottom, left, right = padding
    n, h, w, c = view.shape
    out = backend.workspace.scratch(name, (n, top + h + bottom, left + w + right, c), view.dtype)
    out[:, :top] = fill
    out[:, top + h:] = fill
    out[:, top:top + h, :left] = fill
    out[:, top:top + h, left + w:] = fill
    out[:, top:top + h, left:left + w] = view
    return out


def weight_matrix(weight):
    """(O, C, kh, kw) -> (kh*kw*C, O), matching im2col's column order."""
    o = weight.shape[0]
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0)).reshape(-1, o)


def grad_matrix(backend, grad):
    """grad (N, O, Ho, Wo) as (N*Ho*Wo, O): a view when it is channels-last, else a copy."""
    rows = nhwc(grad)
    if not rows.flags.c_contiguous:
        copy = backend.workspace.scratch("conv.grad_rows", rows.shape, grad.dtype)
        np.copyto(copy, rows)
        rows = copy
    return rows.reshape(-1, grad.shape[1])
