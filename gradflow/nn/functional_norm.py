"""Group and instance normalisation and channel-wise dropout, as torch.nn.functional has
them; composed from gradflow's differentiable ops. Re-exported by gradflow.nn.functional.
"""

from __future__ import annotations

import gradflow as gf
from gradflow import random as _random
from gradflow.autograd.grad_mode import no_grad
from gradflow.errors import ConfigError, ShapeError
from gradflow.tensor import Tensor

__all__ = ["dropout1d", "dropout2d", "dropout3d", "group_norm", "instance_norm"]


def _standardize(x: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps) over dims, with the biased variance; also mean and var."""
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dims, keepdim=True)
    return centered / gf.sqrt(var + eps), mean, var


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    shape = (1, out.shape[1]) + (1,) * (out.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over groups of channels (and all spatial positions).

    Args:
        input: (N, C, *).
        num_groups: G, dividing C.
        weight, bias: per-channel affine parameters (C,), or None.
        eps: added to the variance.

    Returns:
        A tensor of input's shape.

    Example:
        >>> F.group_norm(gf.randn(2, 6, 4), 3).shape
        (2, 6, 4)
    """
    if input.ndim < 2 or num_groups < 1 or input.shape[1] % num_groups:
        raise ShapeError(f"group_norm: expects input (N, C, *) with C divisible by num_groups "
                         f"{num_groups}, got {input.shape}")
    n = input.shape[0]
    grouped = input.reshape(n, num_groups, -1)
    out, _, _ = _standardize(grouped, (2,), float(eps))
    return _affine(out.reshape(input.shape), weight, bias)


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial positions.

    Args:
        input: (N, C, *spatial).
        running_mean, running_var: (C,) running statistics, updated in place (the batch
            average of the per-sample statistics, the variance unbiased) when
            use_input_stats; used instead of them otherwise. Or None.
        weight, bias: per-channel affine parameters (C,), or None.
        use_input_stats: normalise by each sample's own statistics.
        momentum: weight of the new statistics in the running averages.
        eps: added to the variance.

    Returns:
        A tensor of input's shape.

    Example:
        >>> F.instance_norm(gf.randn(2, 3, 5)).shape
        (2, 3, 5)
    """
    if input.ndim < 3:
        raise ShapeError(f"instance_norm: expects input (N, C, *spatial), got {input.shape}")
    dims = tuple(range(2, input.ndim))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ConfigError("instance_norm: use_input_stats=False needs running statistics")
        shape = (1, input.shape[1]) + (1,) * len(dims)
        out = (input - running_mean.reshape(shape)) / gf.sqrt(running_var.reshape(shape) + eps)
        return _affine(out, weight, bias)
    out, mean, var = _standardize(input, dims, float(eps))
    count = input.numel() // max(input.shape[0] * input.shape[1], 1)
    with no_grad():
        m = float(momentum)
        if running_mean is not None:
            batch_mean = mean.detach().mean(0).reshape(-1)
            running_mean.copy_(running_mean * (1.0 - m) + batch_mean * m)
        if running_var is not None:
            unbiased = var.detach().mean(0).reshape(-1) * (count / max(count - 1, 1))
            running_var.copy_(running_var * (1.0 - m) + unbiased * m)
    return _affine(out, weight, bias)


def _channel_dropout(input: Tensor, p: float, training: bool, spatial: int, name: str,
                     generator=None) -> Tensor:
    """Zero whole channels: a mask of shape (N, C, 1, ...) (or (C, 1, ...) unbatched)."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name}: p must lie in [0, 1], got {p}")
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{name}: expects input (N, C, {spatial} spatial dims) or "
                         f"(C, {spatial} spatial dims), got {input.shape}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    generator = _random.default_generator if generator is None else generator
    backend = input.backend
    shape = input.shape[:input.ndim - spatial] + (1,) * spatial
    keep = generator.bernoulli(1.0 - p, shape, backend.xp, backend.device)
    scale = backend.xp.astype(keep, input.data.dtype) * (1.0 / (1.0 - p))
    return input * Tensor._wrap(scale, backend)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) with probability p; scale the rest by
    1 / (1 - p).

    Example:
        >>> F.dropout1d(gf.ones(2, 3, 4), 0.5, training=False).shape
        (2, 3, 4)
    """
    return _channel_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, H, W) or (C, H, W) with probability p.

    Example:
        >>> F.dropout2d(gf.ones(2, 3, 4, 4), 0.5).shape
        (2, 3, 4, 4)
    """
    return _channel_dropout(input, p, training, 2, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p."""
    return _channel_dropout(input, p, training, 3, "dropout3d")
