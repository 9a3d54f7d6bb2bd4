"""Kernels built on strided views, shared by the NumPy and CuPy backends.

Both libraries have `lib.stride_tricks.as_strided`, `copyto` and `ascontiguousarray`, so
one function serves both; the namespace module is passed in, never tested for.
"""

from __future__ import annotations

from gradflow.backends.geometry import conv_output_hw, wide_tail_rows


def strided_im2col(backend, lib, x, kernel, stride, padding, dilation, batch_major, wide):
    """Backend.im2col as one copy from a strided view of the padded input.

    Args:
        backend: the calling backend (its `_padded` and its workspace's `columns`).
        lib: NumPy or CuPy.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
    if wide:
        pitch = x.shape[3] + padding[2] + padding[3]
        padded = backend._padded(x, padding, 0, wide_tail_rows(kernel, dilation, pitch),
                                 "im2col.padded")
        padded = lib.ascontiguousarray(padded)
        step_n, step_c, step_row, step_col = padded.strides
        position_shape, position_strides = (ho * pitch,), (step_col,)
        final_positions = (ho, pitch)
    else:
        padded = backend._padded(x, padding, 0, scratch="im2col.padded")
        step_n, step_c, step_row, step_col = padded.strides
        position_shape, position_strides = (ho, wo), (sh * step_row, sw * step_col)
        final_positions = (ho, wo)
    offset_strides = (dh * step_row, dw * step_col)
    if batch_major:
        shape = (n, c, kh, kw, *position_shape)
        strides = (step_n, step_c, *offset_strides, *position_strides)
        final = (n, c * kh * kw, *final_positions)
    else:
        shape = (c, kh, kw, n, *position_shape)
        strides = (step_c, *offset_strides, step_n, *position_strides)
        final = (c * kh * kw, n, *final_positions)
    windows = lib.lib.stride_tricks.as_strided(padded, shape, strides)
    columns = backend.workspace.columns(final, x.dtype).reshape(shape)
    lib.copyto(columns, windows)
    return columns.reshape(final)
