"""Specs for the functional forms behind issue 14's layers: activations, distances, pixel
shuffle, interpolate, attention, group/instance norm, conv1d, transposed convolutions,
1-D and adaptive pooling, unpooling, fold/unfold and the extra losses.

NumPy references are written here from the definitions (the 2-D conv and pooling ones
are reused from specs/conv.py); each also has a torch reference."""

from __future__ import annotations

import math

import numpy as np

import gradflow.nn.functional as F
from gradflow.testing.registry import Sample, op, rng
from gradflow.testing.specs.conv import (
    np_adaptive_avg_pool2d,
    np_avg_pool2d,
    np_conv2d,
    np_max_pool2d,
)

R = rng(14)


def normal(*shape):
    return np.asarray(R.standard_normal(shape))


def away(*shape, low=0.3, high=2.5, kinks=(0.0,)):
    """Values at least 0.1 from every kink."""
    values = R.uniform(-4.5, 4.5, shape)
    for kink in kinks:
        close = np.abs(values - kink) < 0.1
        values = np.where(close, values + 0.25, values)
    return values


def distinct(*shape):
    n = int(np.prod(shape))
    return R.permutation(np.linspace(-3.0, 3.0, n)).reshape(shape)


def signs(*shape):
    return np.where(R.random(shape) < 0.5, -1.0, 1.0)


def _tf(name):
    return lambda torch, *args, **kw: getattr(torch.nn.functional, name)(*args, **kw)


def _np_softplus(x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, x, (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](loss)


# -- activations -------------------------------------------------------------------------

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
UNARY = [Sample((away(3, 5),), label="2d"), Sample((away(2, 3, 2),), label="3d")]
HARD = [Sample((away(4, 6, kinks=(-3.0, -1.0, 0.0, 1.0, 3.0, 6.0)),), label="kinks_avoided")]
ACTIVATIONS = {
    "silu": (UNARY, lambda x: x * _np_sigmoid(x)),
    "elu": (UNARY + [Sample((away(5),), {"alpha": 0.5}, label="alpha")],
            lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))),
    "celu": (UNARY + [Sample((away(5),), {"alpha": 2.0}, label="alpha")],
             lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))),
    "selu": (UNARY, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(
        np.minimum(x, 0)))),
    "softplus": (UNARY + [Sample((away(6),), {"beta": 2.0, "threshold": 3.0},
                                 label="beta_threshold")], _np_softplus),
    "softsign": (UNARY, lambda x: x / (1 + np.abs(x))),
    "hardtanh": (HARD + [Sample((away(6, kinks=(-2.0, 0.5)),), {"min_val": -2.0,
                                                                 "max_val": 0.5})],
                 lambda x, min_val=-1.0, max_val=1.0: np.clip(x, min_val, max_val)),
    "relu6": (HARD, lambda x: np.clip(x, 0.0, 6.0)),
    "hardsigmoid": (HARD, lambda x: np.clip(x / 6 + 0.5, 0.0, 1.0)),
    "hardswish": (HARD, lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "mish": (UNARY, lambda x: x * np.tanh(_np_softplus(x))),
    "logsigmoid": (UNARY, lambda x: -_np_softplus(-x)),
    "tanhshrink": (UNARY, lambda x: x - np.tanh(x)),
    "softmin": ([Sample((normal(3, 5),), {"dim": 1}), Sample((normal(2, 3, 4),), {"dim": 0})],
                lambda x, dim=-1: _np_softmax(-x, dim)),
    "glu": ([Sample((normal(3, 6),)), Sample((normal(4, 2, 3),), {"dim": 0})],
            lambda x, dim=-1: np.split(x, 2, dim)[0] * _np_sigmoid(np.split(x, 2, dim)[1])),
    "threshold": ([Sample((away(4, 5, kinks=(0.5,)), 0.5, -2.0))],
                  lambda x, threshold, value: np.where(x > threshold, x, value)),
}
for _name, (_samples, _reference) in ACTIVATIONS.items():
    op(f"nn.{_name}", getattr(F, _name), _samples, _reference, torch_reference=_tf(_name),
       rtol=2e-5, atol=2e-6)


def _np_prelu(x, weight):
    shape = (-1,) + (1,) * (x.ndim - 2) if x.ndim >= 2 and weight.size > 1 else (-1,)
    w = weight.reshape(shape) if weight.size > 1 else weight
    return np.where(x > 0, x, w * x)


op("nn.prelu", F.prelu,
   [Sample((away(2, 3, 4), R.uniform(0.1, 0.4, 3)), label="per_channel"),
    Sample((away(4, 5), np.array([0.25])), label="shared")],
   _np_prelu, torch_reference=_tf("prelu"))

# -- distances, normalize, pixel shuffle -------------------------------------------------


def _np_normalize(x, p=2.0, dim=1, eps=1e-12):
    norm = (np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p)
    return x / np.maximum(norm, eps)


op("nn.normalize", F.normalize,
   [Sample((normal(3, 4),)), Sample((normal(2, 3, 4),), {"p": 1.0, "dim": -1}, label="p1")],
   _np_normalize, torch_reference=_tf("normalize"))


def _np_cosine_similarity(x1, x2, dim=1, eps=1e-8):
    n1 = np.maximum(np.sqrt((x1 * x1).sum(axis=dim, keepdims=True)), eps)
    n2 = np.maximum(np.sqrt((x2 * x2).sum(axis=dim, keepdims=True)), eps)
    return ((x1 / n1) * (x2 / n2)).sum(axis=dim)


op("nn.cosine_similarity", F.cosine_similarity,
   [Sample((normal(4, 5), normal(4, 5))),
    Sample((normal(2, 3, 4), normal(1, 3, 4)), {"dim": -1}, label="broadcast")],
   _np_cosine_similarity, torch_reference=_tf("cosine_similarity"))


def _np_pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return (np.abs(x1 - x2 + eps) ** p).sum(axis=-1, keepdims=keepdim) ** (1 / p)


op("nn.pairwise_distance", F.pairwise_distance,
   [Sample((normal(4, 5), normal(4, 5))),
    Sample((normal(3, 4), normal(3, 4)), {"p": 3.0, "keepdim": True}, label="p3_keepdim")],
   _np_pairwise_distance, torch_reference=_tf("pairwise_distance"))


def _np_pixel_shuffle(x, r):
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c // (r * r), h * r, w * r))
    for k in range(c):
        out[..., k // (r * r), (k % (r * r)) // r::r, k % r::r] = x[..., k, :, :]
    return out


def _np_pixel_unshuffle(x, r):
    *lead, c, h, w = x.shape
    out = np.zeros((*lead, c * r * r, h // r, w // r))
    for k in range(c * r * r):
        out[..., k, :, :] = x[..., k // (r * r), (k % (r * r)) // r::r, k % r::r]
    return out


op("nn.pixel_shuffle", F.pixel_shuffle,
   [Sample((normal(2, 8, 2, 3), 2)), Sample((normal(9, 2, 2), 3), label="unbatched")],
   _np_pixel_shuffle, torch_reference=_tf("pixel_shuffle"))
op("nn.pixel_unshuffle", F.pixel_unshuffle,
   [Sample((normal(2, 2, 4, 6), 2)), Sample((normal(1, 6, 3), 3), label="unbatched")],
   _np_pixel_unshuffle, torch_reference=_tf("pixel_unshuffle"))

# -- interpolate -------------------------------------------------------------------------


def _np_resize_axis(x, axis, size_out, factor, mode, align_corners):
    size_in = x.shape[axis]
    if align_corners:
        scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    else:
        scale = 1.0 / factor if factor else size_in / size_out
    out = []
    for i in range(size_out):
        if mode in ("nearest", "nearest-exact"):
            offset = 0.5 if mode == "nearest-exact" else 0.0
            src = min(math.floor((i + offset) * scale), size_in - 1)
            out.append(np.take(x, src, axis))
            continue
        src = i * scale if align_corners else max((i + 0.5) * scale - 0.5, 0.0)
        lo = min(math.floor(src), size_in - 1)
        hi = min(lo + 1, size_in - 1)
        frac = src - lo
        out.append(np.take(x, lo, axis) * (1 - frac) + np.take(x, hi, axis) * frac)
    return np.stack(out, axis)


def _np_interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    spatial = x.ndim - 2
    if size is not None:
        sizes = size if isinstance(size, (tuple, list)) else (size,) * spatial
        factors = [None] * spatial
    else:
        factors = (scale_factor if isinstance(scale_factor, (tuple, list))
                   else (scale_factor,) * spatial)
        sizes = [math.floor(n * f) for n, f in zip(x.shape[2:], factors)]
    if mode == "area":
        return np_adaptive_avg_pool2d(x, tuple(sizes))
    for k in range(spatial):
        x = _np_resize_axis(x, 2 + k, sizes[k], factors[k], mode, bool(align_corners))
    return x


op("nn.interpolate", F.interpolate,
   [Sample((normal(1, 2, 3, 4),), {"scale_factor": 2}, label="nearest_x2"),
    Sample((normal(1, 2, 5, 4),), {"size": (3, 7)}, label="nearest_size"),
    Sample((normal(1, 2, 5, 4),), {"size": (3, 7), "mode": "nearest-exact"},
           label="nearest_exact"),
    Sample((normal(2, 1, 3, 4),), {"scale_factor": 1.5, "mode": "bilinear"},
           label="bilinear_scale"),
    Sample((normal(1, 2, 4, 3),), {"size": (6, 5), "mode": "bilinear", "align_corners": True},
           label="bilinear_align_corners"),
    Sample((normal(1, 2, 5),), {"size": 8, "mode": "linear"}, label="linear_1d"),
    Sample((normal(1, 2, 5),), {"scale_factor": 2, "mode": "nearest"}, label="nearest_1d"),
    Sample((normal(1, 2, 6, 5),), {"size": (3, 2), "mode": "area"}, label="area")],
   _np_interpolate, torch_reference=_tf("interpolate"))

# -- attention ---------------------------------------------------------------------------


def _np_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if is_causal:
        attn_mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if attn_mask is not None:
        scores = np.where(attn_mask, scores, -np.inf) if attn_mask.dtype == bool \
            else scores + attn_mask
    return _np_softmax(scores, -1) @ v


op("nn.scaled_dot_product_attention", F.scaled_dot_product_attention,
   [Sample((normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 2)), label="plain"),
    Sample((normal(1, 2, 4, 3), normal(1, 2, 4, 3), normal(1, 2, 4, 3)), {"is_causal": True},
           label="causal"),
    Sample((normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 2), R.random((3, 5)) < 0.7),
           {"scale": 0.3}, label="bool_mask_scale"),
    Sample((normal(2, 3, 4), normal(2, 5, 4), normal(2, 5, 2), normal(3, 5)),
           label="float_mask", grad_args=(0, 1, 2))],
   _np_sdpa, torch_reference=_tf("scaled_dot_product_attention"), rtol=1e-5, atol=1e-5)

# -- normalisation -------------------------------------------------------------------------


def _np_affine(out, weight, bias):
    shape = (1, -1) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    return out if bias is None else out + bias.reshape(shape)


def _np_group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    g = x.reshape(x.shape[0], num_groups, -1)
    out = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + eps)
    return _np_affine(out.reshape(x.shape), weight, bias)


op("nn.group_norm", F.group_norm,
   [Sample((normal(2, 6, 4), 3, normal(6), normal(6)), label="affine"),
    Sample((normal(2, 4, 2, 3), 2), label="plain_4d")],
   _np_group_norm, torch_reference=_tf("group_norm"), rtol=1e-4, atol=1e-5)


def _np_instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
                      use_input_stats=True, momentum=0.1, eps=1e-5):
    dims = tuple(range(2, x.ndim))
    out = (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + eps)
    return _np_affine(out, weight, bias)


op("nn.instance_norm", F.instance_norm,
   [Sample((normal(2, 3, 5), None, None, normal(3), normal(3)), label="affine_1d"),
    Sample((normal(2, 2, 3, 3),), label="plain_2d")],
   _np_instance_norm, torch_reference=_tf("instance_norm"), rtol=1e-4, atol=1e-5)

# -- convolution and pooling -----------------------------------------------------------------


def _np_conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    pad = padding if isinstance(padding, str) else (0, padding)
    out = np_conv2d(x[..., None, :], weight[:, :, None, :], bias, (1, stride), pad,
                    (1, dilation), groups)
    return out[..., 0, :]


op("nn.conv1d", F.conv1d,
   [Sample((normal(2, 3, 7), normal(4, 3, 3), normal(4)), {"padding": 1}, label="pad1"),
    Sample((normal(1, 4, 9), normal(4, 2, 2)), {"stride": 2, "dilation": 2, "groups": 2},
           label="stride_dilation_groups"),
    Sample((normal(3, 6), normal(2, 3, 4), normal(2)), {"padding": "same"},
           label="unbatched_same")],
   _np_conv1d, torch_reference=_tf("conv1d"), rtol=1e-5, atol=1e-5, cpu_reorders_sums=True)


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _np_conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                         groups=1, dilation=1):
    """Each input pixel scatters weight-scaled copies of its kernel into the output."""
    if x.ndim == 3:
        return _np_conv_transpose2d(x[None], weight, bias, stride, padding, output_padding,
                                    groups, dilation)[0]
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = map(pair, (stride, padding, output_padding,
                                                         dilation))
    n, c_in, h, w = x.shape
    _, per_group, kh, kw = weight.shape
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oh
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + ow
    out = np.zeros((n, per_group * groups, full_h, full_w))
    in_per_group = c_in // groups
    for c in range(c_in):
        g = c // in_per_group
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for b in range(kw):
                        out[:, g * per_group:(g + 1) * per_group, i * sh + a * dh,
                            j * sw + b * dw] += x[:, c, i, j, None] * weight[c, :, a, b]
    out = out[:, :, ph:full_h - ph, pw:full_w - pw]
    return out if bias is None else out + bias[None, :, None, None]


op("nn.conv_transpose2d", F.conv_transpose2d,
   [Sample((normal(2, 3, 3, 4), normal(3, 2, 3, 3), normal(2)), label="plain_bias"),
    Sample((normal(1, 4, 3, 3), normal(4, 1, 3, 2)),
           {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
           label="stride_pad_outpad_groups"),
    Sample((normal(1, 2, 3, 3), normal(2, 3, 2, 2), normal(3)),
           {"stride": (1, 2), "dilation": 2}, label="dilation"),
    Sample((normal(2, 3, 3), normal(2, 2, 2, 2)), {"stride": 2}, label="unbatched")],
   _np_conv_transpose2d, torch_reference=_tf("conv_transpose2d"), rtol=1e-5, atol=1e-5,
   cpu_reorders_sums=True)


def _np_conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0,
                         groups=1, dilation=1):
    out = _np_conv_transpose2d(x[..., None, :], weight[:, :, None, :], bias, (1, stride),
                               (0, padding), (0, output_padding), groups, (1, dilation))
    return out[..., 0, :]


op("nn.conv_transpose1d", F.conv_transpose1d,
   [Sample((normal(2, 3, 4), normal(3, 2, 3), normal(2)), {"stride": 2, "padding": 1,
                                                          "output_padding": 1},
           label="stride_outpad"),
    Sample((normal(1, 4, 5), normal(4, 1, 2)), {"groups": 2, "dilation": 3}, label="groups")],
   _np_conv_transpose1d, torch_reference=_tf("conv_transpose1d"), rtol=1e-5, atol=1e-5,
   cpu_reorders_sums=True)


def _np_max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return np_max_pool2d(x[..., None, :], (1, kernel_size),
                         (1, stride if stride is not None else kernel_size), (0, padding),
                         (1, dilation), ceil_mode)[..., 0, :]


op("nn.max_pool1d", F.max_pool1d,
   [Sample((distinct(2, 3, 8), 2)), Sample((distinct(1, 2, 9), 3, 2, 1), label="k3_s2_pad1"),
    Sample((distinct(2, 7), 2), {"ceil_mode": True}, label="unbatched_ceil")],
   _np_max_pool1d, torch_reference=_tf("max_pool1d"))


def _np_avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                   count_include_pad=True):
    return np_avg_pool2d(x[..., None, :], (1, kernel_size),
                         (1, stride if stride is not None else kernel_size), (0, padding),
                         ceil_mode, count_include_pad)[..., 0, :]


op("nn.avg_pool1d", F.avg_pool1d,
   [Sample((normal(2, 3, 8), 2)),
    Sample((normal(1, 2, 9), 3, 2, 1), {"count_include_pad": False}, label="exclude_pad")],
   _np_avg_pool1d, torch_reference=_tf("avg_pool1d"))
op("nn.adaptive_avg_pool1d", F.adaptive_avg_pool1d,
   [Sample((normal(2, 3, 7), 3)), Sample((normal(2, 8), 4), label="unbatched_divisible")],
   lambda x, size: np_adaptive_avg_pool2d(x[..., None, :], (1, size))[..., 0, :],
   torch_reference=_tf("adaptive_avg_pool1d"))


def _np_adaptive_max_pool2d(x, output_size, return_indices=False):
    if x.ndim == 3:
        out = _np_adaptive_max_pool2d(x[None], output_size, return_indices)
        return tuple(o[0] for o in out) if return_indices else out[0]
    h, w = x.shape[2:]
    ho, wo = output_size if isinstance(output_size, tuple) else (output_size,) * 2
    out = np.zeros((*x.shape[:2], ho, wo))
    index = np.zeros(out.shape, dtype=np.int64)
    for i in range(ho):
        r0, r1 = (i * h) // ho, math.ceil((i + 1) * h / ho)
        for j in range(wo):
            c0, c1 = (j * w) // wo, math.ceil((j + 1) * w / wo)
            window = x[:, :, r0:r1, c0:c1].reshape(*x.shape[:2], -1)
            out[:, :, i, j] = window.max(-1)
            best = window.argmax(-1)
            index[:, :, i, j] = (r0 + best // (c1 - c0)) * w + c0 + best % (c1 - c0)
    return (out, index) if return_indices else out


op("nn.adaptive_max_pool2d", F.adaptive_max_pool2d,
   [Sample((distinct(2, 2, 7, 5), (3, 2)), label="uneven"),
    Sample((distinct(3, 4, 4), 2), label="unbatched_divisible"),
    Sample((distinct(1, 2, 5, 7), 3), {"return_indices": True}, label="indices")],
   _np_adaptive_max_pool2d, torch_reference=_tf("adaptive_max_pool2d"))


def _np_max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    k, p = pair(kernel_size), pair(padding)
    s = pair(stride if stride is not None else kernel_size)
    h, w = output_size[-2:] if output_size is not None else (
        (n - 1) * si - 2 * pi + ki for n, si, pi, ki in zip(x.shape[-2:], s, p, k))
    out = np.zeros((*x.shape[:-2], h * w))
    flat_x, flat_i = x.reshape(-1, x.shape[-2] * x.shape[-1]), indices.reshape(
        -1, x.shape[-2] * x.shape[-1])
    view = out.reshape(-1, h * w)
    for row in range(view.shape[0]):
        view[row, flat_i[row]] = flat_x[row]
    return out.reshape(*x.shape[:-2], h, w)


_POOLED = np.array([[[[8, 3], [10, 13]]], [[[0, 6], [9, 15]]]], dtype=np.int64)
op("nn.max_unpool2d", F.max_unpool2d,
   [Sample((normal(2, 1, 2, 2), _POOLED, 2), label="k2"),
    Sample((normal(2, 1, 2, 2), _POOLED, 2, 2, 0, (5, 4)), label="output_size")],
   _np_max_unpool2d, torch_reference=_tf("max_unpool2d"))


def _np_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(pair, (kernel_size, dilation, padding, stride))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = xp.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    cols = np.zeros((n, c, kh, kw, ho, wo))
    for a in range(kh):
        for b in range(kw):
            cols[:, :, a, b] = xp[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                                  b * dw:b * dw + sw * (wo - 1) + 1:sw]
    return cols.reshape(n, c * kh * kw, ho * wo)


def _np_fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(pair, (kernel_size, dilation, padding, stride))
    h, w = pair(output_size)
    n = cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    blocks = cols.reshape(n, c, kh, kw, ho, wo)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    for a in range(kh):
        for b in range(kw):
            out[:, :, a * dh:a * dh + sh * (ho - 1) + 1:sh,
                b * dw:b * dw + sw * (wo - 1) + 1:sw] += blocks[:, :, a, b]
    return out[:, :, ph:ph + h, pw:pw + w]


op("nn.unfold", F.unfold,
   [Sample((normal(2, 2, 4, 5), 2), label="k2"),
    Sample((normal(1, 2, 5, 5), (2, 3)), {"dilation": (2, 1), "padding": 1, "stride": 2},
           label="dilation_padding_stride")],
   _np_unfold, torch_reference=_tf("unfold"))
op("nn.fold", F.fold,
   [Sample((normal(2, 8, 12), (4, 5), 2), label="k2"),
    Sample((normal(1, 12, 9), (5, 5), (2, 3)), {"dilation": (2, 1), "padding": 1, "stride": 2},
           label="dilation_padding_stride")],
   _np_fold, torch_reference=_tf("fold"))

# -- losses ----------------------------------------------------------------------------------

REDUCTIONS = ("mean", "sum", "none")


def _np_log_softmax(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def _np_kl_div(input, target, reduction="mean", log_target=False):
    if log_target:
        loss = np.exp(target) * (target - input)
    else:
        loss = np.where(target > 0, target * np.log(np.where(target > 0, target, 1.0)), 0.0) \
            - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0]
    return _np_reduce(loss, reduction)


_probs = np.exp(_np_log_softmax(normal(3, 4), 1))
_probs[0, 1] = 0.0
op("nn.kl_div", F.kl_div,
   [Sample((_np_log_softmax(normal(3, 4), 1), _probs), {"reduction": r}, label=r,
           grad_args=(0,))
    for r in ("batchmean", "sum", "none")]
   + [Sample((_np_log_softmax(normal(3, 4), 1), _np_log_softmax(normal(3, 4), 1)),
             {"log_target": True}, label="log_target")],
   _np_kl_div, torch_reference=_tf("kl_div"))


def _np_huber(input, target, reduction="mean", delta=1.0):
    d = np.abs(input - target)
    return _np_reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


op("nn.huber_loss", F.huber_loss,
   [Sample((normal(3, 4) * 2, normal(3, 4)), {"reduction": r}, label=r) for r in REDUCTIONS]
   + [Sample((normal(5) * 2, normal(5)), {"delta": 0.5}, label="delta")],
   _np_huber, torch_reference=_tf("huber_loss"))


def _np_poisson_nll(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = np.exp(input) - target * input if log_input else input - target * np.log(input + eps)
    if full:
        safe = np.where(target > 1, target, 1.0)
        loss = loss + np.where(target > 1, safe * np.log(safe) - safe
                               + 0.5 * np.log(2 * np.pi * safe), 0.0)
    return _np_reduce(loss, reduction)


_COUNTS = R.integers(0, 5, (3, 4)).astype(np.float64)
op("nn.poisson_nll_loss", F.poisson_nll_loss,
   [Sample((normal(3, 4), _COUNTS), label="log_input", grad_args=(0,)),
    Sample((R.uniform(0.5, 3.0, (3, 4)), _COUNTS), {"log_input": False, "full": True,
                                                      "reduction": "sum"},
           label="rate_full", grad_args=(0,))],
   _np_poisson_nll, torch_reference=_tf("poisson_nll_loss"))


def _np_gaussian_nll(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if var.shape != input.shape and var.shape == input.shape[:-1]:
        var = var[..., None]
    var = np.maximum(var, eps)
    loss = 0.5 * (np.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _np_reduce(loss, reduction)


op("nn.gaussian_nll_loss", F.gaussian_nll_loss,
   [Sample((normal(3, 4), normal(3, 4), R.uniform(0.5, 2.0, (3, 4))), label="full_var"),
    Sample((normal(3, 4), normal(3, 4), R.uniform(0.5, 2.0, (3, 1))), {"full": True},
           label="shared_var_full"),
    Sample((normal(3, 4), normal(3, 4), R.uniform(0.5, 2.0, (3,))), {"reduction": "none"},
           label="per_sample_var")],
   _np_gaussian_nll, torch_reference=_tf("gaussian_nll_loss"))

op("nn.margin_ranking_loss", F.margin_ranking_loss,
   [Sample((normal(6), normal(6), signs(6)), {"margin": 0.3, "reduction": r}, label=r,
           grad_args=(0, 1)) for r in REDUCTIONS],
   lambda a, b, y, margin=0.0, reduction="mean": _np_reduce(
       np.maximum(0.0, -y * (a - b) + margin), reduction),
   torch_reference=_tf("margin_ranking_loss"))

op("nn.hinge_embedding_loss", F.hinge_embedding_loss,
   [Sample((away(3, 4, kinks=(0.0, 1.0)), signs(3, 4)), label="mean", grad_args=(0,)),
    Sample((away(5, kinks=(0.0, 2.0)), signs(5)), {"margin": 2.0, "reduction": "none"},
           label="margin_none", grad_args=(0,))],
   lambda x, y, margin=1.0, reduction="mean": _np_reduce(
       np.where(y == 1, x, np.maximum(0.0, margin - x)), reduction),
   torch_reference=_tf("hinge_embedding_loss"))


def _np_cosine_embedding(x1, x2, y, margin=0.0, reduction="mean"):
    dim = x1.ndim - 1
    cos = (x1 * x2).sum(dim) / np.sqrt(((x1 * x1).sum(dim) + 1e-12) * ((x2 * x2).sum(dim)
                                                                      + 1e-12))
    return _np_reduce(np.where(y == 1, 1 - cos, np.maximum(0.0, cos - margin)), reduction)


op("nn.cosine_embedding_loss", F.cosine_embedding_loss,
   [Sample((normal(5, 3), normal(5, 3), signs(5)), {"margin": -0.2}, label="margin",
           grad_args=(0, 1)),
    Sample((normal(4, 3), normal(4, 3), signs(4)), {"reduction": "none"}, label="none",
           grad_args=(0, 1))],
   _np_cosine_embedding, torch_reference=_tf("cosine_embedding_loss"))


def _np_triplet(a, p, n, margin=1.0, p_norm=2.0, eps=1e-6, swap=False, reduction="mean"):
    def dist(u, v):
        return (np.abs(u - v + eps) ** p_norm).sum(-1) ** (1 / p_norm)

    far = dist(a, n)
    if swap:
        far = np.minimum(far, dist(p, n))
    return _np_reduce(np.maximum(dist(a, p) - far + margin, 0.0), reduction)


op("nn.triplet_margin_loss", F.triplet_margin_loss,
   [Sample((normal(5, 3), normal(5, 3), normal(5, 3)), label="default"),
    Sample((normal(5, 3), normal(5, 3), normal(5, 3)), {"swap": True, "margin": 2.0,
                                                        "reduction": "none"}, label="swap")],
   _np_triplet, torch_reference=_tf("triplet_margin_loss"))


def _np_multi_margin(x, y, p=1, margin=1.0, weight=None, reduction="mean"):
    x2 = x.reshape(1, -1) if x.ndim == 1 else x
    y2 = np.atleast_1d(y)
    picked = x2[np.arange(len(y2)), y2][:, None]
    hinge = np.maximum(0.0, margin - picked + x2) ** p
    if weight is not None:
        hinge = hinge * weight[y2][:, None]
    hinge[np.arange(len(y2)), y2] = 0.0
    loss = hinge.sum(1) / x2.shape[1]
    return _np_reduce(loss.reshape(()) if x.ndim == 1 else loss, reduction)


_SCORES = distinct(4, 5)
op("nn.multi_margin_loss", F.multi_margin_loss,
   [Sample((_SCORES, np.array([0, 3, 1, 4])), label="p1"),
    Sample((_SCORES, np.array([2, 2, 0, 1]), 2, 0.5, R.uniform(0.5, 2, 5)),
           {"reduction": "none"}, label="p2_weight", grad_args=(0,))],
   _np_multi_margin, torch_reference=_tf("multi_margin_loss"))


def _np_multilabel_soft_margin(x, y, weight=None, reduction="mean"):
    loss = _np_softplus(-x) * y + _np_softplus(x) * (1 - y)
    if weight is not None:
        loss = loss * weight
    return _np_reduce(loss.mean(-1), reduction)


op("nn.multilabel_soft_margin_loss", F.multilabel_soft_margin_loss,
   [Sample((normal(3, 4), (R.random((3, 4)) < 0.5).astype(np.float64)), label="mean",
           grad_args=(0,)),
    Sample((normal(3, 4), (R.random((3, 4)) < 0.5).astype(np.float64), R.uniform(0.5, 2, 4)),
           {"reduction": "sum"}, label="weight_sum", grad_args=(0,))],
   _np_multilabel_soft_margin, torch_reference=_tf("multilabel_soft_margin_loss"))
op("nn.soft_margin_loss", F.soft_margin_loss,
   [Sample((normal(3, 4), signs(3, 4)), {"reduction": r}, label=r, grad_args=(0,))
    for r in REDUCTIONS],
   lambda x, y, reduction="mean": _np_reduce(np.log1p(np.exp(-y * x)), reduction),
   torch_reference=_tf("soft_margin_loss"))
