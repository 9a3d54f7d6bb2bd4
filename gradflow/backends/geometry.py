"""Window geometry shared by the conv and pooling ops and by every backend's kernels.

Layout NCHW. `kernel`, `stride`, `dilation` are (height, width) pairs and `padding` is
(top, bottom, left, right).
"""

from __future__ import annotations


def conv_output_hw(input_shape, kernel, stride, padding, dilation) -> tuple[int, int]:
    """(Ho, Wo) of a window op on an (N, C, H, W) input."""
    h, w = input_shape[-2:]
    top, bottom, left, right = padding
    ho = (h + top + bottom - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    return ho, wo


def wide_tail_rows(kernel, dilation, pitch: int) -> int:
    """Rows of zeros below a padded image so that every wide-column run stays inside it."""
    return -(-(kernel[1] - 1) * dilation[1] // pitch)


def conv_batch_major(weight_shape, groups: int) -> bool:
    """Batch-major columns when a group has fewer column rows than output channels.

    NOTE: with few rows (a first layer: 1 channel x 3 x 3) the matmul is cheap and the
    two transposes between (O, N, ...) and (N, O, ...) would dominate; with many rows,
    one big matmul beats N small ones.
    """
    out_channels, group_channels, kh, kw = weight_shape
    return group_channels * kh * kw < out_channels // groups


def pool_windows(kernel, stride, dilation, out_hw):
    """For each kernel offset in row-major order, the index picking its (N, C, Ho, Wo) values
    from a padded input."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    for i, j in kernel_offsets(kernel):
        yield (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
               slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def kernel_offsets(kernel):
    """(i, j) of every kernel position, in row-major order."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]



def tiles_input(input_shape, kernel, stride, padding, dilation) -> bool:
    """Whether pooling windows cover the input exactly, each element in one window."""
    h, w = input_shape[2:]
    return (tuple(kernel) == tuple(stride) and tuple(dilation) == (1, 1) and not any(padding)
            and h % kernel[0] == 0 and w % kernel[1] == 0)
