"""Convolution and pooling in functional form (NCHW), re-exported by gradflow.nn.functional.

conv2d, max_pool2d and avg_pool2d are ops with their own backward rules
(gradflow/ops/conv.py); adaptive_avg_pool2d is composed from them and matmul.
"""

from __future__ import annotations

from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.ops.conv import conv2d
from gradflow.ops.pool import avg_pool2d, max_pool2d
from gradflow.tensor import Tensor

__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "conv2d", "max_pool2d"]


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size, with PyTorch's windows.

    Output row i averages input rows floor(i * H / Ho) to ceil((i + 1) * H / Ho) - 1
    (likewise for columns), so windows may differ in size and overlap.

    Args:
        input: (N, C, H, W), or (C, H, W).
        output_size: an int or an (Ho, Wo) pair; None in the pair keeps that size.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> F.adaptive_avg_pool2d(gf.randn(2, 8, 7, 7), 1).shape
        (2, 8, 1, 1)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"adaptive_avg_pool2d: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"adaptive_avg_pool2d: expected a 4-D input (N, C, H, W) or a 3-D one "
                         f"(C, H, W), got shape {input.shape}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"adaptive_avg_pool2d: needs a floating-point input, "
                         f"got {input.dtype.name}")
    h, w = input.shape[-2:]
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ConfigError(f"adaptive_avg_pool2d: output_size must be an int or a pair, "
                          f"got {output_size!r}")
    out_h, out_w = (size if out is None else out for out, size in zip(sizes, (h, w)))
    for out in (out_h, out_w):
        if not isinstance(out, int) or isinstance(out, bool) or out < 1:
            raise ConfigError(f"adaptive_avg_pool2d: output sizes must be positive ints, "
                              f"got {output_size!r}")
    if h == 0 or w == 0:
        raise ShapeError(f"adaptive_avg_pool2d: input of shape {input.shape} is empty")
    if h % out_h == 0 and w % out_w == 0:  # equal, disjoint windows: a plain average pool
        return avg_pool2d(input, (h // out_h, w // out_w))
    # NOTE: uneven windows: out = A_h @ x @ A_w.T with averaging matrices, so the
    # gradient (and its gradient) comes from matmul's rule.
    from gradflow.creation import tensor
    from gradflow.ops.linalg import matmul
    from gradflow.ops.shape import transpose

    rows = tensor(_averaging_matrix(h, out_h), dtype=input.dtype, device=input.device)
    cols = tensor(_averaging_matrix(w, out_w), dtype=input.dtype, device=input.device)
    return matmul(matmul(rows, input), transpose(cols, 0, 1))


def _averaging_matrix(size: int, out: int) -> list[list[float]]:
    matrix = []
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix.append([1.0 / (end - start) if start <= k < end else 0.0 for k in range(size)])
    return matrix
