"""Stateless forms of the layers and losses: `import gradflow.nn.functional as F`.

Everything here is composed from gradflow's differentiable ops, so gradients
(and gradients of gradients) come from the ops' own rules.
"""

from __future__ import annotations

import math

import gradflow as gf
from gradflow import random as _random
from gradflow.amp import autocast_inputs
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.ops.linalg import linear as _linear
from gradflow.tensor import Tensor

# -- activations ---------------------------------------------------------------------


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise.

    Example:
        >>> F.relu(gf.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return gf.relu(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x.

    Args:
        x: input tensor.
        negative_slope: the slope for negative inputs.

    Returns:
        A tensor of x's shape.

    Example:
        >>> F.leaky_relu(gf.tensor([-1.0, 2.0]), 0.1).tolist()
        [-0.10000000149011612, 2.0]
    """
    # NOTE: at exactly 0 the gradient is negative_slope, as in PyTorch (x > 0 is False).
    return gf.where(x > 0, x, x * float(negative_slope))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, x * Phi(x).

    Args:
        x: input tensor.
        approximate: "none" (exact, through erf) or "tanh" (the tanh approximation).

    Returns:
        A tensor of x's shape.

    Example:
        >>> F.gelu(gf.zeros(2)).tolist()
        [0.0, 0.0]
    """
    if approximate == "none":
        return x * (gf.erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (gf.tanh(inner) + 1.0) * 0.5
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise."""
    return gf.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return gf.tanh(x)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) normalised to sum to 1 along `dim` (stable for large values).

    Example:
        >>> F.softmax(gf.tensor([1e4, 1e4]), dim=0).tolist()
        [0.5, 0.5]
    """
    return gf.softmax(x, dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along `dim`, without forming softmax."""
    return gf.log_softmax(x, dim)


# -- linear, normalisation, dropout, embedding ----------------------------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight of shape (out_features, in_features).

    Example:
        >>> F.linear(gf.ones(5, 3), gf.ones(2, 3)).shape
        (5, 2)
    """
    return _linear(x, weight, bias)


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dimension 1) by its batch statistics or the running ones.

    Args:
        x: input of shape (N, C) or (N, C, ...).
        running_mean, running_var: per-channel running statistics (updated in place when
            training), or None.
        weight, bias: per-channel affine parameters, or None.
        training: use the batch statistics (and update the running ones).
        momentum: weight of the new batch in the running averages.
        eps: added to the variance before the square root.

    Returns:
        A tensor of x's shape.

    Example:
        >>> y = F.batch_norm(gf.randn(8, 3), None, None, training=True)
    """
    x, weight, bias = autocast_inputs("batch_norm", x, weight, bias)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expects input (N, C, ...), got {x.shape}")
    shape = _channel_shape(x)
    if training:
        dims = (0, *range(2, x.ndim))
        count = x.numel() // max(x.shape[1], 1)
        if count <= 1:
            raise ShapeError(f"batch_norm: training needs more than one value per channel, "
                             f"got input of shape {x.shape}")
        mean = x.mean(dims, keepdim=True)
        centered = x - mean
        var = (centered * centered).mean(dims, keepdim=True)
        out = centered / gf.sqrt(var + eps)
        with gf.no_grad():
            m = float(momentum)
            if running_mean is not None:
                running_mean.copy_(running_mean * (1.0 - m) + mean.detach().reshape(-1) * m)
            if running_var is not None:
                # NOTE: the running variance uses the unbiased estimate (PyTorch's choice),
                # while the normalisation above uses the biased one.
                unbiased = var.detach().reshape(-1) * (count / (count - 1))
                running_var.copy_(running_var * (1.0 - m) + unbiased * m)
    else:
        if running_mean is None or running_var is None:
            raise ConfigError("batch_norm: evaluation needs running_mean and running_var; "
                              "pass training=True to use batch statistics")
        out = (x - running_mean.reshape(shape)) / gf.sqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dimensions of each sample.

    Example:
        >>> F.layer_norm(gf.randn(4, 6), (6,)).shape
        (4, 6)
    """
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    k = len(normalized_shape)
    if x.ndim < k or x.shape[x.ndim - k:] != normalized_shape:
        raise ShapeError(f"layer_norm: expects input (..., {', '.join(map(str, normalized_shape))})"
                         f", got {x.shape}")
    x, weight, bias = autocast_inputs("layer_norm", x, weight, bias)
    dims = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered / gf.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def dropout_probability(p, where: str) -> float:
    """p as a float in [0, 1]: a string or other non-number is an ArgumentTypeError."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        from gradflow.errors import ArgumentTypeError

        raise ArgumentTypeError(f"{where}: p must be a number in [0, 1], got {p!r} "
                                f"({type(p).__name__})")
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{where}: p must lie in [0, 1], got {p}")
    return float(p)


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            generator: _random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p).

    Masks come from gradflow's counter-based generator, so a seed gives the same
    mask on every device.

    Args:
        x: input tensor.
        p: drop probability in [0, 1].
        training: when False, return x unchanged.
        generator: a gf.Generator (default: the global one).

    Returns:
        A tensor of x's shape.

    Example:
        >>> _ = gf.manual_seed(0)
        >>> F.dropout(gf.ones(4, 4), 0.5).shape
        (4, 4)
    """
    p = dropout_probability(p, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    generator = _random.default_generator if generator is None else generator
    backend = x.backend
    keep = generator.bernoulli(1.0 - p, x.shape, backend.xp, backend.device)
    scale = backend.xp.astype(keep, x.data.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._wrap(scale, backend)


def _check_embedding_indices(indices: Tensor, size: int) -> None:
    """Every index in [0, size): a negative index is an error, not a row from the end
    (PyTorch's rule)."""
    xp = indices.backend.xp
    data = indices.data
    if data.size and bool(xp.any((data < 0) | (data >= size))):
        from gradflow.errors import IndexingError

        host = indices.numpy().reshape(-1)
        bad = int(host[(host < 0) | (host >= size)][0])
        raise IndexingError(f"embedding: index {bad} is out of range for an embedding of size "
                            f"{size} (valid indices are 0..{size - 1}; negative ones are not "
                            "counted from the end)")


def embedding(indices: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of `weight` at integer `indices`; the padding row receives no gradient.

    Args:
        indices: integer tensor of any shape.
        weight: (num_embeddings, embedding_dim).
        padding_idx: a row whose gradient stays zero, or None.

    Returns:
        A tensor of shape indices.shape + (embedding_dim,).

    Example:
        >>> F.embedding(gf.tensor([[0, 2]]), gf.randn(3, 4)).shape
        (1, 2, 4)
    """
    if indices.dtype.is_floating_point or indices.dtype.name == "bool":
        raise DTypeError(f"embedding: indices must be integers, got {indices.dtype.name}")
    _check_embedding_indices(indices, weight.shape[0])
    out = weight[indices]
    if padding_idx is not None:
        if padding_idx < 0:
            padding_idx += weight.shape[0]
        keep = (indices != padding_idx).unsqueeze(-1)
        out = gf.where(keep, out, out.detach())
    return out


def one_hot(labels: Tensor, num_classes: int = -1) -> Tensor:
    """Integer labels as one-hot int64 vectors along a new last dimension.

    Example:
        >>> F.one_hot(gf.tensor([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    if labels.dtype.is_floating_point or labels.dtype.name == "bool":
        raise DTypeError(f"one_hot: labels must be integers, got {labels.dtype.name}")
    host = labels.numpy()
    if num_classes < 0:
        num_classes = int(host.max()) + 1 if host.size else 0
    bad = host[(host < 0) | (host >= num_classes)]
    if bad.size:
        raise ConfigError(f"one_hot: label {int(bad[0])} is out of range for {num_classes} "
                          "classes")
    xp = labels.backend.xp
    classes = xp.arange(num_classes, dtype=labels.data.dtype, device=labels.backend.device)
    hot = xp.astype(labels.data[..., None] == classes, labels.backend.xp_dtype(gf.int64))
    return Tensor._wrap(hot, labels.backend)


def _pad_index(size: int, before: int, after: int, mode: str) -> list[int]:
    positions = range(-before, size + after)
    if mode == "replicate":
        return [min(max(i, 0), size - 1) for i in positions]
    if mode == "circular":
        return [i % size for i in positions]
    period = 2 * (size - 1)  # reflect: mirror without repeating the edge
    return [(size - 1) - abs((i % period) - (size - 1)) if period else 0 for i in positions]


def pad(x: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last dimensions; `pad` is (last_before, last_after, previous_before, ...).

    Args:
        x: input tensor.
        pad: an even-length sequence of non-negative widths.
        mode: "constant", "reflect", "replicate" or "circular".
        value: the fill value for "constant" (default 0).

    Returns:
        The padded tensor.

    Example:
        >>> F.pad(gf.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
        [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    pad = tuple(int(p) for p in pad)
    if mode == "constant":
        return gf.pad(x, pad, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ConfigError(f"pad: mode must be constant, reflect, replicate or circular, "
                          f"got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim or any(p < 0 for p in pad):
        raise ShapeError(f"pad: {pad} needs non-negative pairs for at most {x.ndim} dimensions")
    out = x
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        size = x.shape[dim]
        limit = size - 1 if mode == "reflect" else size
        if (before or after) and (size == 0 or max(before, after) > limit):
            raise ShapeError(f"pad: {mode} padding of ({before}, {after}) is too wide for "
                             f"dimension {dim} of size {size}")
        if before or after:
            index = gf.tensor(_pad_index(size, before, after, mode), device=x.backend)
            out = out[(slice(None),) * dim + (index,)]
    return out


# the losses build on the functions above
from gradflow.nn.functional_activation import (  # noqa: E402
    celu,
    elu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    silu,
    softmin,
    softplus,
    softsign,
    tanhshrink,
    threshold,
)
from gradflow.nn.functional_conv import (  # noqa: E402
    adaptive_avg_pool2d,
    avg_pool2d,
    conv2d,
    max_pool2d,
)
from gradflow.nn.functional_conv_extra import (  # noqa: E402
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    conv1d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_unpool1d,
    max_unpool2d,
    unfold,
)
from gradflow.nn.functional_extra import (  # noqa: E402
    cosine_similarity,
    interpolate,
    normalize,
    pairwise_distance,
    pixel_shuffle,
    pixel_unshuffle,
    scaled_dot_product_attention,
)
from gradflow.nn.functional_losses import (  # noqa: E402
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from gradflow.nn.functional_losses_extra import (  # noqa: E402
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    huber_loss,
    kl_div,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from gradflow.nn.functional_norm import (  # noqa: E402
    dropout1d,
    dropout2d,
    dropout3d,
    group_norm,
    instance_norm,
)

__all__ = [
    'adaptive_avg_pool1d',
    "adaptive_avg_pool2d",
    'adaptive_max_pool1d',
    'adaptive_max_pool2d',
    'avg_pool1d',
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    'celu',
    'conv1d',
    "conv2d",
    'conv_transpose1d',
    'conv_transpose2d',
    'cosine_embedding_loss',
    'cosine_similarity',
    "cross_entropy",
    "dropout",
    'dropout1d',
    'dropout2d',
    'dropout3d',
    'elu',
    "embedding",
    'fold',
    'gaussian_nll_loss',
    "gelu",
    'glu',
    'group_norm',
    'hardsigmoid',
    'hardswish',
    'hardtanh',
    'hinge_embedding_loss',
    'huber_loss',
    'instance_norm',
    'interpolate',
    'kl_div',
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    'logsigmoid',
    'margin_ranking_loss',
    'max_pool1d',
    "max_pool2d",
    'max_unpool1d',
    'max_unpool2d',
    'mish',
    "mse_loss",
    'multi_margin_loss',
    'multilabel_soft_margin_loss',
    "nll_loss",
    'normalize',
    "one_hot",
    "pad",
    'pairwise_distance',
    'pixel_shuffle',
    'pixel_unshuffle',
    'poisson_nll_loss',
    'prelu',
    "relu",
    'relu6',
    'scaled_dot_product_attention',
    'selu',
    "sigmoid",
    'silu',
    "smooth_l1_loss",
    'soft_margin_loss',
    "softmax",
    'softmin',
    'softplus',
    'softsign',
    "tanh",
    'tanhshrink',
    'threshold',
    'triplet_margin_loss',
    'unfold',
]
