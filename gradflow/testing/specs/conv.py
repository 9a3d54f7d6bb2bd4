"""Specs for convolution and pooling: nn.conv2d, nn.max_pool2d, nn.avg_pool2d and
nn.adaptive_avg_pool2d. The NumPy references loop over output positions, as the
definitions read, and share nothing with gradflow's kernels."""

from __future__ import annotations

import math

import numpy as np

import gradflow.nn.functional_conv as FC
from gradflow.ops._util import Ints, Padding
from gradflow.testing.registry import Sample, op, rng

R = rng(2)


def normal(*shape):
    return np.asarray(R.standard_normal(shape))


def distinct(*shape):
    """Values without ties (max pooling), at least 0.01 apart."""
    n = int(np.prod(shape))
    return R.permutation(np.linspace(-3.0, 3.0, n)).reshape(shape)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _tf(name):
    return lambda torch, *args, **kw: getattr(torch.nn.functional, name)(*args, **kw)


def _batched(fn):
    """Apply a reference written for (N, C, H, W) to a (C, H, W) input too."""
    def wrapper(x, *args, **kwargs):
        if x.ndim == 3:
            out = wrapper(x[None], *args, **kwargs)
            return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]
        return fn(x, *args, **kwargs)
    return wrapper


# -- conv2d ------------------------------------------------------------------------------


@_batched
def np_conv2d(x, weight, bias=None, stride: Ints = 1, padding: Padding = 0, dilation: Ints = 1,
              groups=1):
    n, _, h, w = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    if padding == "valid":
        padding = 0
    if isinstance(padding, str):  # "same"
        total_h, total_w = dh * (kh - 1), dw * (kw - 1)
        pads = (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    else:
        ph, pw = _pair(padding)
        pads = (ph, ph, pw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    ho = (h + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    per_group = out_channels // groups
    out = np.zeros((n, out_channels, ho, wo))
    for o in range(out_channels):
        first = (o // per_group) * group_channels
        for i in range(ho):
            for j in range(wo):
                window = xp[:, first:first + group_channels,
                            i * sh:i * sh + dh * (kh - 1) + 1:dh,
                            j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, o, i, j] = (window * weight[o]).sum(axis=(1, 2, 3))
    if bias is not None:
        out += bias[None, :, None, None]
    return out


op("nn.conv2d", FC.conv2d,
   [Sample((normal(2, 3, 5, 5), normal(4, 3, 3, 3), normal(4)), {"padding": 1},
           label="pad1_bias"),
    Sample((normal(1, 2, 6, 7), normal(3, 2, 2, 3)), {"stride": (2, 1), "padding": (1, 0)},
           label="stride_asymmetric_no_bias"),
    Sample((normal(2, 4, 6, 6), normal(4, 2, 3, 3), normal(4)),
           {"padding": 2, "dilation": 2, "groups": 2}, label="dilation_groups"),
    Sample((normal(1, 2, 5, 6), normal(3, 2, 2, 4), normal(3)), {"padding": "same"},
           label="same_even_kernel"),
    Sample((normal(2, 1, 5, 5), normal(10, 1, 2, 2), normal(10)), {"padding": 1},
           label="few_rows_batch_major"),
    Sample((normal(2, 2, 7, 7), normal(10, 1, 2, 2)), {"stride": 2, "groups": 2},
           label="batch_major_stride_groups"),
    Sample((normal(1, 3, 5, 5), normal(2, 3, 1, 1), normal(2)), {"stride": 3},
           label="1x1_stride3"),
    Sample((normal(2, 5, 4), normal(2, 2, 3, 2)), {"padding": "valid", "dilation": (1, 2)},
           label="unbatched_valid")],
   np_conv2d, torch_reference=_tf("conv2d"), rtol=1e-5, atol=1e-5, cpu_reorders_sums=True)

# -- pooling -----------------------------------------------------------------------------


def _pool_size(size, k, s, p, d, ceil_mode):
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = math.ceil(span / s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


@_batched
def np_max_pool2d(x, kernel_size, stride=None, padding: Ints = 0, dilation: Ints = 1,
                  ceil_mode=False):
    n, c, h, w = x.shape
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(stride if stride is not None else kernel_size)
    (ph, pw), (dh, dw) = _pair(padding), _pair(dilation)
    ho = _pool_size(h, kh, sh, ph, dh, ceil_mode)
    wo = _pool_size(w, kw, sw, pw, dw, ceil_mode)
    out = np.full((n, c, ho, wo), -np.inf)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    row, col = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= row < h and 0 <= col < w:
                        out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, row, col])
    return out


op("nn.max_pool2d", FC.max_pool2d,
   [Sample((distinct(2, 3, 6, 6), 2), label="k2"),
    Sample((distinct(1, 2, 7, 7), 3, 2, 1), label="k3_s2_pad1"),
    Sample((distinct(1, 2, 7, 8), 2, 1, 1, 2), label="dilation2_overlap"),
    Sample((distinct(2, 2, 7, 6), (2, 3), (2, 1), (1, 0)), {"ceil_mode": True},
           label="ceil_mode_asymmetric"),
    Sample((distinct(3, 5, 5), 2), label="unbatched_odd")],
   np_max_pool2d, torch_reference=_tf("max_pool2d"))


@_batched
def np_avg_pool2d(x, kernel_size, stride=None, padding: Ints = 0, ceil_mode=False,
                  count_include_pad=True, divisor_override=None):
    n, c, h, w = x.shape
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(stride if stride is not None else kernel_size)
    (ph, pw) = _pair(padding)
    ho = _pool_size(h, kh, sh, ph, 1, ceil_mode)
    wo = _pool_size(w, kw, sw, pw, 1, ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * sh - ph, j * sw - pw
            r1, c1 = min(r0 + kh, h + ph), min(c0 + kw, w + pw)  # window within the padding
            pool = (r1 - r0) * (c1 - c0)
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
            total = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3))
            if divisor_override:
                divisor = divisor_override
            else:
                divisor = pool if count_include_pad else (r1 - r0) * (c1 - c0)
            out[:, :, i, j] = total / divisor
    return out


op("nn.avg_pool2d", FC.avg_pool2d,
   [Sample((normal(2, 3, 6, 6), 2), label="k2"),
    Sample((normal(1, 2, 7, 7), 3, 2, 1), label="k3_s2_pad1"),
    Sample((normal(1, 2, 7, 7), 3, 2, 1), {"count_include_pad": False},
           label="exclude_pad"),
    Sample((normal(2, 2, 7, 6), (2, 3), (2, 1), (1, 0)), {"ceil_mode": True},
           label="ceil_mode"),
    Sample((normal(1, 2, 6, 5), 3, 2, 1), {"ceil_mode": True, "count_include_pad": False},
           label="ceil_exclude_pad"),
    Sample((normal(1, 2, 5, 5), 2, 1), {"divisor_override": 3}, label="divisor_override"),
    Sample((normal(3, 5, 5), 2), label="unbatched")],
   np_avg_pool2d, torch_reference=_tf("avg_pool2d"))


@_batched
def np_adaptive_avg_pool2d(x, output_size):
    h, w = x.shape[2:]
    sizes = _pair(output_size)
    ho, wo = (size if o is None else o for o, size in zip(sizes, (h, w)))
    out = np.zeros((*x.shape[:2], ho, wo))
    for i in range(ho):
        r0, r1 = (i * h) // ho, math.ceil((i + 1) * h / ho)
        for j in range(wo):
            c0, c1 = (j * w) // wo, math.ceil((j + 1) * w / wo)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


op("nn.adaptive_avg_pool2d", FC.adaptive_avg_pool2d,
   [Sample((normal(2, 3, 5, 5), 1), label="global"),
    Sample((normal(1, 2, 7, 5), (3, 2)), label="uneven_overlap"),
    Sample((normal(1, 2, 4, 6), 2), label="divisible"),
    Sample((normal(2, 4, 5), (None, 3)), label="unbatched_keep_rows")],
   np_adaptive_avg_pool2d, torch_reference=_tf("adaptive_avg_pool2d"))
