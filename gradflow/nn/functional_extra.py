"""Distances, pixel shuffling, interpolation and attention, as torch.nn.functional has them.

Composed from gradflow's differentiable ops (reshape, permute, getitem with index
lists, matmul, softmax); index lists depend only on shapes and are built on the
host. Re-exported by gradflow.nn.functional.
"""

from __future__ import annotations

import math

import gradflow as gf
from gradflow.errors import ConfigError, ShapeError
from gradflow.ops.cast import cast
from gradflow.tensor import Tensor

__all__ = [
    "cosine_similarity", "interpolate", "normalize", "pairwise_distance", "pixel_shuffle",
    "pixel_unshuffle", "scaled_dot_product_attention",
]


def _clamped_forward(value: Tensor, low: float) -> Tensor:
    """max(value, low) in value, while the gradient passes as if unclamped (PyTorch clamps
    such norms in place under no_grad)."""
    detached = value.detach()
    return value + (gf.clamp(detached, min=low) - detached)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input / max(||input||_p, eps) along `dim`.

    Example:
        >>> F.normalize(gf.tensor([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    return input / gf.clamp(gf.norm(input, float(p), dim, keepdim=True), min=float(eps))


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle between x1 and x2 along `dim` (they broadcast).

    Each input is divided by its norm (at least eps) first, which keeps the result in
    [-1, 1]; as in PyTorch, the floor at eps does not change the gradient.

    Example:
        >>> F.cosine_similarity(gf.tensor([[1.0, 0.0]]), gf.tensor([[1.0, 1.0]])).tolist()
        [0.7071067690849304]
    """
    norm1 = _clamped_forward(gf.norm(x1, 2.0, dim, keepdim=True), float(eps))
    norm2 = _clamped_forward(gf.norm(x2, 2.0, dim, keepdim=True), float(eps))
    return ((x1 / norm1) * (x2 / norm2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dimension.

    Example:
        >>> F.pairwise_distance(gf.tensor([[0.0, 0.0]]), gf.tensor([[3.0, 4.0]]), eps=0.0).tolist()
        [5.0]
    """
    diff = x1 - x2 + float(eps)
    if diff.ndim == 0:
        return gf.abs(diff)
    return gf.norm(diff, float(p), -1, keepdim=keepdim)


def _factor(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name}: the factor must be a positive int, got {value!r}")
    return value


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C r**2, H, W) -> (*, C, H r, W r): channels rearranged into r x r blocks.

    Example:
        >>> F.pixel_shuffle(gf.randn(1, 8, 3, 3), 2).shape
        (1, 2, 6, 6)
    """
    r = _factor(upscale_factor, "pixel_shuffle")
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ShapeError(f"pixel_shuffle: expects input (*, C * {r * r}, H, W), "
                         f"got {input.shape}")
    *lead, c, h, w = input.shape
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r**2, H, W): the inverse of pixel_shuffle.

    Example:
        >>> F.pixel_unshuffle(gf.randn(1, 2, 6, 6), 2).shape
        (1, 8, 3, 3)
    """
    r = _factor(downscale_factor, "pixel_unshuffle")
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ShapeError(f"pixel_unshuffle: expects input (*, C, H * {r}, W * {r}), "
                         f"got {input.shape}")
    *lead, c, h, w = input.shape
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


# -- interpolate ------------------------------------------------------------------------

_MODES = {"nearest": 0, "nearest-exact": 0, "linear": 1, "bilinear": 2, "trilinear": 3,
          "area": 0}


def _output_sizes(input: Tensor, size, scale_factor, spatial: int):
    """Output sizes and the scale (input / output) each dimension's source positions use."""
    sizes_in = input.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ConfigError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * spatial
        if len(sizes) != spatial:
            raise ConfigError(f"interpolate: size {size!r} should have {spatial} entries for "
                              f"input {input.shape}")
        return sizes, [None] * spatial
    factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
               else (scale_factor,) * spatial)
    if len(factors) != spatial:
        raise ConfigError(f"interpolate: scale_factor {scale_factor!r} should have {spatial} "
                          f"entries for input {input.shape}")
    sizes = tuple(math.floor(n * float(f)) for n, f in zip(sizes_in, factors))
    return sizes, [float(f) for f in factors]


def _scale(size_in: int, size_out: int, factor, align_corners: bool) -> float:
    if align_corners:
        return (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    return 1.0 / factor if factor is not None else size_in / size_out


def _take(x: Tensor, dim: int, index: list[int]) -> Tensor:
    key = (slice(None),) * dim + (gf.tensor(index, device=x.backend),)
    return x[key]


def _nearest(x: Tensor, dim: int, size_out: int, factor, exact: bool) -> Tensor:
    size_in = x.shape[dim]
    scale = _scale(size_in, size_out, factor, False)
    offset = 0.5 if exact else 0.0
    index = [min(math.floor((i + offset) * scale), size_in - 1) for i in range(size_out)]
    return _take(x, dim, index)


def _linear(x: Tensor, dim: int, size_out: int, factor, align_corners: bool) -> Tensor:
    size_in = x.shape[dim]
    scale = _scale(size_in, size_out, factor, align_corners)
    low, high, weights = [], [], []
    for i in range(size_out):
        source = i * scale if align_corners else max((i + 0.5) * scale - 0.5, 0.0)
        first = min(math.floor(source), size_in - 1)
        low.append(first)
        high.append(min(first + 1, size_in - 1))
        weights.append(source - first)
    shape = [1] * x.ndim
    shape[dim] = size_out
    weight = gf.tensor(weights, dtype=x.dtype, device=x.backend).reshape(shape)
    start = _take(x, dim, low)
    return start + (_take(x, dim, high) - start) * weight


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dimensions of an (N, C, *spatial) input.

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: the output spatial size (an int or one per dimension).
        scale_factor: a multiplier (or one per dimension) instead of size.
        mode: "nearest", "nearest-exact", "linear" (3-D input), "bilinear" (4-D),
            "trilinear" (5-D) or "area" (adaptive average pooling).
        align_corners: for the linear modes: map the corner pixels' centres onto each
            other (True) or the corners' edges (False, the default).
        recompute_scale_factor: compute the source positions from the output size
            instead of the given scale_factor.
        antialias: not supported (must be False).

    Returns:
        (N, C, *size).

    Example:
        >>> F.interpolate(gf.randn(1, 3, 4, 4), scale_factor=2, mode="bilinear").shape
        (1, 3, 8, 8)
    """
    if mode not in _MODES:
        raise ConfigError(f"interpolate: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if antialias:
        raise ConfigError("interpolate: antialias=True is not supported")
    spatial = input.ndim - 2
    if spatial not in (1, 2, 3) or (_MODES[mode] and _MODES[mode] != spatial):
        raise ShapeError(f"interpolate: mode {mode!r} does not take input {input.shape}; "
                         "linear wants (N, C, L), bilinear (N, C, H, W), trilinear 5-D")
    linear = _MODES[mode] != 0
    if align_corners is not None and not linear:
        raise ConfigError(f"interpolate: align_corners applies only to the linear modes, "
                          f"not {mode!r}")
    sizes, factors = _output_sizes(input, size, scale_factor, spatial)
    if recompute_scale_factor:
        factors = [None] * spatial
    if mode == "area":
        from gradflow.nn.functional_conv_extra import adaptive_avg_pool

        return adaptive_avg_pool(input, sizes, "interpolate")
    out = input
    for k, (size_out, factor) in enumerate(zip(sizes, factors)):
        dim = 2 + k
        if size_out == out.shape[dim] and factor in (None, 1.0):
            continue
        if linear:
            out = _linear(out, dim, size_out, factor, bool(align_corners))
        else:
            out = _nearest(out, dim, size_out, factor, mode == "nearest-exact")
    return out


# -- attention ----------------------------------------------------------------------------


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(query @ key.T * scale + mask) @ value, over the last two dimensions.

    Args:
        query: (..., L, E).
        key: (..., S, E).
        value: (..., S, Ev).
        attn_mask: bool (True = attend) or float (added to the scores), broadcastable
            to (..., L, S); or None.
        dropout_p: dropout on the attention weights (from gradflow's generator).
        is_causal: attend only to positions at or before each query's (no attn_mask then).
        scale: default 1 / sqrt(E).
        enable_gqa: let query have a multiple of key's heads (dimension -3).

    Returns:
        (..., L, Ev).

    Example:
        >>> q = gf.randn(2, 4, 5, 8)
        >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 5, 8)
    """
    from gradflow.nn.functional import dropout

    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2 or query.shape[-1] != key.shape[-1] \
            or key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: expects query (..., L, E), key "
                         f"(..., S, E), value (..., S, Ev); got {query.shape}, {key.shape}, "
                         f"{value.shape}")
    if is_causal and attn_mask is not None:
        raise ConfigError("scaled_dot_product_attention: give is_causal or attn_mask, not both")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        repeat = query.shape[-3] // key.shape[-3]
        index = [h for h in range(key.shape[-3]) for _ in range(repeat)]
        key, value = _take(key, key.ndim - 3, index), _take(value, value.ndim - 3, index)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query * scale) @ key.transpose(-2, -1)
    length, source = query.shape[-2], key.shape[-2]
    if is_causal:
        rows = gf.arange(length, device=query.backend).reshape(-1, 1)
        attn_mask = gf.arange(source, device=query.backend).reshape(1, -1) <= rows
    if attn_mask is not None:
        if attn_mask.dtype.name == "bool":
            scores = gf.where(attn_mask, scores, -math.inf)
        else:
            scores = scores + cast(attn_mask, scores.dtype)
    weights = gf.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value
