"""conv1d, transposed convolutions, 1-D and adaptive pooling, max_unpool2d, fold and unfold.

The 1-D forms run the 2-D ops on a height of one. A transposed convolution is the
input gradient of conv2d (ops/conv.py's Conv2dBackwardInput), whose own gradients
are conv2d and conv2d's weight gradient, so gradients of gradients come for free.
unfold and fold are the
im2col/col2im adjoint pair of ops/fold.py. Re-exported by gradflow.nn.functional.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.nn.functional_conv import adaptive_avg_pool2d
from gradflow.ops.conv import Conv2dBackwardInput, conv2d
from gradflow.ops.fold import Fold, Unfold
from gradflow.ops.pool import avg_pool2d, max_pool2d
from gradflow.ops.shape import IndexAdd
from gradflow.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d", "conv1d",
    "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d", "max_unpool1d", "max_unpool2d",
    "unfold",
]


def _single(value, name: str, op: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ConfigError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return value


def _pair(value, name: str, op: str, minimum: int = 0) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                  and v >= minimum for v in items):
        raise ConfigError(f"{op}: {name} must be an int >= {minimum} or a pair of them, "
                          f"got {value!r}")
    return items


def _as_2d(input: Tensor, op: str, layout: str) -> tuple[Tensor, bool]:
    """(N, C, L) or (C, L) as (N, C, 1, L); whether it was unbatched."""
    if not isinstance(input, Tensor) or input.ndim not in (2, 3):
        shape = getattr(input, "shape", type(input).__name__)
        raise ShapeError(f"{op}: expected a 3-D input {layout} or a 2-D one without the batch, "
                         f"got {shape}")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    return x.unsqueeze(2), unbatched


def _from_2d(out: Tensor, unbatched: bool) -> Tensor:
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


# -- convolution ------------------------------------------------------------------------


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) over (N, C, L), as torch.nn.functional.conv1d.

    Args:
        input: (N, C, L) or (C, L).
        weight: (out_channels, C / groups, k).
        bias: (out_channels,) or None.
        stride, dilation: ints.
        padding: an int, "valid" or "same".
        groups: independent channel groups.

    Returns:
        (N, out_channels, Lo).

    Example:
        >>> F.conv1d(gf.randn(2, 3, 10), gf.randn(4, 3, 3), padding=1).shape
        (2, 4, 10)
    """
    if not isinstance(weight, Tensor) or weight.ndim != 3:
        raise ShapeError(f"conv1d: expected a 3-D weight (out_channels, in_channels / groups, k),"
                         f" got {getattr(weight, 'shape', type(weight).__name__)}")
    x, unbatched = _as_2d(input, "conv1d", "(N, C, L)")
    pad = _single(padding, "padding", "conv1d")
    pad2 = pad if isinstance(pad, str) else (0, pad)
    out = conv2d(x, weight.unsqueeze(2), bias, (1, _single(stride, "stride", "conv1d")), pad2,
                 (1, _single(dilation, "dilation", "conv1d")), groups)
    return _from_2d(out, unbatched)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution (the gradient of conv2d with respect to its input).

    Args:
        input: (N, C_in, H, W) or (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW) (PyTorch's layout).
        bias: (C_out,) or None.
        stride, padding, dilation: an int or a pair.
        output_padding: extra rows/columns at the bottom/right (smaller than stride or
            dilation), to pick among the input sizes a strided conv2d maps to one size.
        groups: independent channel groups.

    Returns:
        (N, C_out, Ho, Wo), Ho = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1.

    Example:
        >>> F.conv_transpose2d(gf.randn(1, 4, 5, 5), gf.randn(4, 2, 3, 3), stride=2).shape
        (1, 2, 11, 11)
    """
    op = "conv_transpose2d"
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected input (N, C_in, H, W) or (C_in, H, W), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    if input.ndim == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding,
                                output_padding, groups, dilation).squeeze(0)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D weight (C_in, C_out / groups, kH, kW), "
                         f"got {getattr(weight, 'shape', type(weight).__name__)}")
    if not isinstance(groups, int) or groups < 1 or weight.shape[0] % groups:
        raise ConfigError(f"{op}: groups must be a positive int dividing weight.shape[0] "
                          f"{weight.shape[0]}, got {groups!r}")
    if input.shape[1] != weight.shape[0]:
        raise ShapeError(f"{op}: input of shape {input.shape} has {input.shape[1]} channels, "
                         f"weight of shape {weight.shape} expects {weight.shape[0]}")
    if input.dtype is not weight.dtype or not input.dtype.is_floating_point:
        raise DTypeError(f"{op}: input and weight need one floating dtype, got "
                         f"{input.dtype.name} and {weight.dtype.name}")
    stride = _pair(stride, "stride", op, 1)
    pad = _pair(padding, "padding", op)
    extra = _pair(output_padding, "output_padding", op)
    dilation = _pair(dilation, "dilation", op, 1)
    for e, s, d in zip(extra, stride, dilation):
        if e >= max(s, d):
            raise ConfigError(f"{op}: output_padding {extra} must be smaller than stride "
                              f"{stride} or dilation {dilation}")
    out_channels = weight.shape[1] * groups
    sizes = [(n - 1) * s - 2 * p + d * (k - 1) + e + 1
             for n, s, p, d, k, e in zip(input.shape[2:], stride, pad, dilation,
                                         weight.shape[2:], extra)]
    if min(sizes) < 1:
        raise ShapeError(f"{op}: input {input.shape} with padding {pad} gives an empty output "
                         f"{tuple(sizes)}")
    out = Conv2dBackwardInput.apply(
        input, weight, input_shape=(input.shape[0], out_channels, *sizes), grad_columns=None,
        stride=stride, padding=(pad[0], pad[0], pad[1], pad[1]), dilation=dilation,
        groups=groups)
    if bias is not None:
        if bias.shape != (out_channels,):
            raise ShapeError(f"{op}: bias should have shape ({out_channels},), got {bias.shape}")
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution over (N, C_in, L), weight (C_in, C_out / groups, k).

    Example:
        >>> F.conv_transpose1d(gf.randn(1, 4, 5), gf.randn(4, 2, 3), stride=2).shape
        (1, 2, 11)
    """
    op = "conv_transpose1d"
    if not isinstance(weight, Tensor) or weight.ndim != 3:
        raise ShapeError(f"{op}: expected a 3-D weight (C_in, C_out / groups, k), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    x, unbatched = _as_2d(input, op, "(N, C_in, L)")
    out = conv_transpose2d(
        x, weight.unsqueeze(2), bias, (1, _single(stride, "stride", op)),
        (0, _single(padding, "padding", op)), (0, _single(output_padding, "output_padding", op)),
        groups, (1, _single(dilation, "dilation", op)))
    return _from_2d(out, unbatched)


# -- 1-D pooling ----------------------------------------------------------------------------


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling over (N, C, L) or (C, L); indices are positions along L.

    Example:
        >>> F.max_pool1d(gf.randn(2, 3, 8), 2).shape
        (2, 3, 4)
    """
    op = "max_pool1d"
    x, unbatched = _as_2d(input, op, "(N, C, L)")
    kernel = _single(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _single(stride, "stride", op)
    out = max_pool2d(x, (1, kernel), (1, stride), (0, _single(padding, "padding", op)),
                     (1, _single(dilation, "dilation", op)), ceil_mode, return_indices)
    if return_indices:
        return _from_2d(out[0], unbatched), _from_2d(out[1], unbatched)
    return _from_2d(out, unbatched)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L).

    Example:
        >>> F.avg_pool1d(gf.ones(1, 1, 4), 2).tolist()
        [[[1.0, 1.0]]]
    """
    op = "avg_pool1d"
    x, unbatched = _as_2d(input, op, "(N, C, L)")
    kernel = _single(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _single(stride, "stride", op)
    out = avg_pool2d(x, (1, kernel), (1, stride), (0, _single(padding, "padding", op)),
                     ceil_mode, count_include_pad)
    return _from_2d(out, unbatched)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling of (N, C, L) to a fixed length, with PyTorch's windows.

    Example:
        >>> F.adaptive_avg_pool1d(gf.randn(2, 3, 7), 3).shape
        (2, 3, 3)
    """
    x, unbatched = _as_2d(input, "adaptive_avg_pool1d", "(N, C, L)")
    size = _single(output_size, "output_size", "adaptive_avg_pool1d")
    return _from_2d(adaptive_avg_pool2d(x, (1, size)), unbatched)


def adaptive_avg_pool(input: Tensor, sizes, op: str) -> Tensor:
    """Adaptive average pooling over the 1 or 2 spatial dimensions of (N, C, *spatial)."""
    if input.ndim == 3:
        return adaptive_avg_pool1d(input, sizes[0])
    if input.ndim == 4:
        return adaptive_avg_pool2d(input, tuple(sizes))
    raise ShapeError(f"{op}: area mode takes (N, C, L) or (N, C, H, W), got {input.shape}")


# -- adaptive max pooling ---------------------------------------------------------------


def _windows(size: int, out: int) -> tuple[list[int], int]:
    """Flat source positions (out * width) of PyTorch's adaptive windows along one axis,
    each padded to the widest by repeating its last position; and that width."""
    bounds = [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]
    width = max(end - start for start, end in bounds)
    index = []
    for start, end in bounds:
        taps = list(range(start, end))
        index += taps + [taps[-1]] * (width - len(taps))
    return index, width


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of (N, C, H, W) to a fixed output size, with PyTorch's windows.

    Args:
        input: (N, C, H, W) or (C, H, W).
        output_size: an int or an (Ho, Wo) pair; None in the pair keeps that size.
        return_indices: also return the flat index h * W + w of each maximum.

    Returns:
        (N, C, Ho, Wo), and the int64 indices when asked for.

    Example:
        >>> F.adaptive_max_pool2d(gf.randn(2, 3, 7, 7), 3).shape
        (2, 3, 3, 3)
    """
    op = "adaptive_max_pool2d"
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected (N, C, H, W) or (C, H, W), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    if input.ndim == 3:
        out = adaptive_max_pool2d(input.unsqueeze(0), output_size, return_indices)
        return tuple(o.squeeze(0) for o in out) if return_indices else out.squeeze(0)
    h, w = input.shape[2:]
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    out_h, out_w = (size if out is None else out for out, size in zip(sizes, (h, w)))
    if min(out_h, out_w, h, w) < 1:
        raise ShapeError(f"{op}: cannot pool input {input.shape} to {output_size!r}")
    rows, kh = _windows(h, out_h)
    cols, kw = _windows(w, out_w)
    backend = input.backend
    x = input[:, :, gf.tensor(rows, device=backend)]
    x = x[:, :, :, gf.tensor(cols, device=backend)]
    # (N, C, Ho * kh, Wo * kw) -> (N, C, Ho, Wo, kh * kw)
    n, c = input.shape[:2]
    x = x.reshape(n, c, out_h, kh, out_w, kw).permute(0, 1, 2, 4, 3, 5)
    x = x.reshape(n, c, out_h, out_w, kh * kw)
    out = x.amax(-1)
    if not return_indices:
        return out
    xp = backend.xp
    winner = xp.astype(xp.argmax(x.data, axis=-1), xp.int64)
    flat = [[[rows[i * kh + a] * w + cols[j * kw + b] for a in range(kh) for b in range(kw)]
             for j in range(out_w)] for i in range(out_h)]
    table = xp.asarray(flat, dtype=xp.int64, device=backend.device)
    taps = xp.arange(kh * kw, dtype=xp.int64, device=backend.device)
    hit = winner[..., None] == taps
    index = xp.sum(xp.where(hit, table, xp.zeros_like(table)), axis=-1)
    return out, Tensor._wrap(index, backend)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of (N, C, L) to a fixed length, with PyTorch's windows.

    Example:
        >>> F.adaptive_max_pool1d(gf.randn(2, 3, 7), 3).shape
        (2, 3, 3)
    """
    x, unbatched = _as_2d(input, "adaptive_max_pool1d", "(N, C, L)")
    size = _single(output_size, "output_size", "adaptive_max_pool1d")
    out = adaptive_max_pool2d(x, (1, size), return_indices)
    if return_indices:
        return _from_2d(out[0], unbatched), _from_2d(out[1], unbatched)
    return _from_2d(out, unbatched)


# -- unpooling ---------------------------------------------------------------------------


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Put each value back at its max_pool2d index in a zero plane (the pool's partial inverse).

    Args:
        input: pooled values (N, C, Ho, Wo) or (C, Ho, Wo).
        indices: max_pool2d(..., return_indices=True)'s indices, input's shape.
        kernel_size, stride, padding: the pooling's (stride defaults to kernel_size).
        output_size: (H, W) (optionally with N, C in front); default
            (Ho - 1) * stride - 2 * padding + kernel_size.

    Returns:
        (N, C, H, W). A position named twice gets the sum of its values.

    Example:
        >>> out, idx = F.max_pool2d(gf.randn(1, 1, 4, 4), 2, return_indices=True)
        >>> F.max_unpool2d(out, idx, 2).shape
        (1, 1, 4, 4)
    """
    op = "max_unpool2d"
    if input.ndim == 3:
        size = None if output_size is None else tuple(output_size)[-2:]
        return max_unpool2d(input.unsqueeze(0), indices.unsqueeze(0), kernel_size, stride,
                            padding, size).squeeze(0)
    if input.ndim != 4 or indices.shape != input.shape:
        raise ShapeError(f"{op}: expects input (N, C, Ho, Wo) and indices of the same shape, "
                         f"got {input.shape} and {indices.shape}")
    if indices.dtype.is_floating_point:
        raise DTypeError(f"{op}: indices must be integers, got {indices.dtype.name}")
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else _pair(stride, "stride", op, 1)
    pad = _pair(padding, "padding", op)
    if output_size is None:
        h, w = ((n - 1) * s - 2 * p + k
                for n, s, p, k in zip(input.shape[2:], stride, pad, kernel))
    else:
        h, w = tuple(output_size)[-2:]
    n, c = input.shape[:2]
    plane = h * w
    host = indices.numpy()
    if host.size and (host.min() < 0 or host.max() >= plane):
        raise ShapeError(f"{op}: an index lies outside the output plane {h}x{w}; pass the "
                         "output_size the pooling's input had")
    backend = input.backend
    xp = backend.xp
    start = xp.reshape(xp.arange(n * c, dtype=xp.int64, device=backend.device) * plane,
                       (n, c, 1, 1))
    flat = xp.reshape(xp.astype(indices.data, xp.int64) + start, (-1,))
    out = IndexAdd.apply(input.reshape(-1), Tensor._wrap(flat, backend), shape=(n * c * plane,),
                         lead=1)
    return out.reshape(n, c, h, w)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The 1-D form of max_unpool2d over (N, C, L).

    Example:
        >>> out, idx = F.max_pool1d(gf.randn(1, 1, 4), 2, return_indices=True)
        >>> F.max_unpool1d(out, idx, 2).shape
        (1, 1, 4)
    """
    op = "max_unpool1d"
    x, unbatched = _as_2d(input, op, "(N, C, L)")
    index, _ = _as_2d(indices, op, "(N, C, L)")
    kernel = _single(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else _single(stride, "stride", op)
    size = None if output_size is None else (1, tuple(output_size)[-1] if isinstance(
        output_size, (tuple, list)) else output_size)
    out = max_unpool2d(x, index, (1, kernel), (1, stride), (0, _single(padding, "padding", op)),
                       size)
    return _from_2d(out, unbatched)


# -- fold / unfold -----------------------------------------------------------------------


def _fold_geometry(op: str, size, kernel_size, dilation, padding, stride) -> dict:
    """Keyword arguments of ops.fold's Unfold and Fold for an (H, W) image."""
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride, pad = _pair(stride, "stride", op, 1), _pair(padding, "padding", op)
    dilation = _pair(dilation, "dilation", op, 1)
    blocks = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                   for n, p, d, k, s in zip(size, pad, dilation, kernel, stride))
    if min(blocks) < 1:
        raise ShapeError(f"{op}: a {size[0]}x{size[1]} image with padding {pad} is smaller than "
                         f"the kernel {kernel} (dilation {dilation})")
    return {"blocks": blocks, "kernel": kernel, "stride": stride, "dilation": dilation,
            "padding": (pad[0], pad[0], pad[1], pad[1])}


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks (im2col): (N, C, H, W) -> (N, C kh kw, L), L the block count.

    Row c kh kw + i kw + j of the result holds tap (i, j) of channel c, as in PyTorch.

    Example:
        >>> F.unfold(gf.randn(2, 3, 5, 5), 3).shape
        (2, 27, 9)
    """
    op = "unfold"
    if not isinstance(input, Tensor) or input.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected (N, C, H, W) or (C, H, W), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    geometry = _fold_geometry(op, input.shape[2:], kernel_size, dilation, padding, stride)
    return Unfold.apply(input, input_shape=tuple(input.shape), **geometry)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding local blocks back into an image (col2im), the adjoint of unfold:
    (N, C kh kw, L) -> (N, C, H, W).

    Example:
        >>> F.fold(gf.ones(1, 4, 4), (3, 3), 2).tolist()[0][0][1]
        [2.0, 4.0, 2.0]
    """
    op = "fold"
    if not isinstance(input, Tensor) or input.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected (N, C * kh * kw, L) or (C * kh * kw, L), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    if input.ndim == 2:
        return fold(input.unsqueeze(0), output_size, kernel_size, dilation, padding,
                    stride).squeeze(0)
    size = _pair(output_size, "output_size", op, 1)
    geometry = _fold_geometry(op, size, kernel_size, dilation, padding, stride)
    taps = geometry["kernel"][0] * geometry["kernel"][1]
    blocks = geometry["blocks"]
    if input.shape[1] % taps or input.shape[2] != blocks[0] * blocks[1]:
        raise ShapeError(f"{op}: input {input.shape} does not fit output_size {size} with "
                         f"kernel {geometry['kernel']}: expected (N, C * {taps}, "
                         f"{blocks[0] * blocks[1]})")
    shape = (input.shape[0], input.shape[1] // taps, *size)
    return Fold.apply(input, input_shape=shape, **geometry)
