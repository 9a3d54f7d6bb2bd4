"""Activation functions beyond relu/gelu/sigmoid/tanh, as torch.nn.functional has them.

Each is composed from gradflow's differentiable ops (where, exp, log, tanh,
sigmoid, ...), so gradients and gradients of gradients come from those rules.
Re-exported by gradflow.nn.functional.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.errors import ConfigError, ShapeError
from gradflow.ops.shape import split
from gradflow.tensor import Tensor

__all__ = [
    "celu", "elu", "glu", "hardsigmoid", "hardswish", "hardtanh", "logsigmoid", "mish", "prelu",
    "relu6", "selu", "silu", "softmin", "softplus", "softsign", "tanhshrink", "threshold",
]

# NOTE: the constants of Klambauer et al. (2017), as PyTorch uses them
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _log1p_exp(z: Tensor) -> Tensor:
    """log(1 + exp(z)) without overflow: max(z, 0) + log(1 + exp(-|z|))."""
    return gf.relu(z) + gf.log(gf.exp(-gf.abs(z)) + 1.0)


def _expm1_negative(x: Tensor, scale: float = 1.0) -> Tensor:
    """exp(min(x, 0) / scale) - 1: the negative branch of elu/celu/selu.

    NOTE: x is clipped at 0 first so that exp never overflows on the positive side, whose
    value `where` discards (an inf there would turn its zero gradient into NaN).
    """
    return gf.exp(gf.minimum(x, 0.0) * (1.0 / scale)) - 1.0


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish).

    Example:
        >>> F.silu(gf.tensor([0.0])).tolist()
        [0.0]
    """
    return x * gf.sigmoid(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise.

    Example:
        >>> F.elu(gf.tensor([1.0, 0.0])).tolist()
        [1.0, 0.0]
    """
    return gf.where(x > 0, x, _expm1_negative(x) * float(alpha))


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    Example:
        >>> F.celu(gf.tensor([2.0]), alpha=0.5).tolist()
        [2.0]
    """
    alpha = float(alpha)
    if alpha == 0.0:
        raise ConfigError("celu: alpha must be non-zero")
    return gf.where(x > 0, x, _expm1_negative(x, alpha) * alpha)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants.

    Example:
        >>> F.selu(gf.tensor([0.0])).tolist()
        [0.0]
    """
    return gf.where(x > 0, x, _expm1_negative(x) * _SELU_ALPHA) * _SELU_SCALE


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold.

    Example:
        >>> round(F.softplus(gf.tensor([0.0])).item(), 4)
        0.6931
    """
    beta = float(beta)
    z = x * beta
    return gf.where(z > float(threshold), x, _log1p_exp(z) * (1.0 / beta))


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|).

    Example:
        >>> F.softsign(gf.tensor([1.0])).tolist()
        [0.5]
    """
    return x / (gf.abs(x) + 1.0)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clipped to [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere.

    Example:
        >>> F.hardtanh(gf.tensor([-3.0, 0.5, 3.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    low, high = float(min_val), float(max_val)
    if low > high:
        raise ConfigError(f"hardtanh: min_val {low} is larger than max_val {high}")
    # NOTE: at the bounds themselves the gradient is 0, as in PyTorch
    return gf.where(x <= low, low, gf.where(x >= high, high, x))


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6).

    Example:
        >>> F.relu6(gf.tensor([-1.0, 7.0])).tolist()
        [0.0, 6.0]
    """
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1 / 2 between.

    Example:
        >>> F.hardsigmoid(gf.tensor([0.0])).tolist()
        [0.5]
    """
    return gf.where(x <= -3.0, 0.0, gf.where(x >= 3.0, 1.0, x * (1.0 / 6.0) + 0.5))


def hardswish(x: Tensor) -> Tensor:
    """x * hardsigmoid(x): 0 for x <= -3, x for x >= 3, x (x + 3) / 6 between.

    Example:
        >>> F.hardswish(gf.tensor([4.0])).tolist()
        [4.0]
    """
    return gf.where(x <= -3.0, 0.0, gf.where(x >= 3.0, x, x * (x + 3.0) * (1.0 / 6.0)))


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x)).

    Example:
        >>> F.mish(gf.tensor([0.0])).tolist()
        [0.0]
    """
    return x * gf.tanh(softplus(x))


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|.

    Example:
        >>> round(F.logsigmoid(gf.tensor([0.0])).item(), 4)
        -0.6931
    """
    return -_log1p_exp(-x)


def tanhshrink(x: Tensor) -> Tensor:
    """x - tanh(x).

    Example:
        >>> F.tanhshrink(gf.tensor([0.0])).tolist()
        [0.0]
    """
    return x - gf.tanh(x)


def softmin(x: Tensor, dim: int = -1) -> Tensor:
    """softmax(-x) along `dim`.

    Example:
        >>> F.softmin(gf.tensor([0.0, 0.0]), dim=0).tolist()
        [0.5, 0.5]
    """
    return gf.softmax(-x, dim)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b), where a and b are the halves of x along `dim`.

    Example:
        >>> F.glu(gf.randn(4, 6)).shape
        (4, 3)
    """
    if x.ndim == 0 or x.shape[dim] % 2:
        raise ShapeError(f"glu: dimension {dim} of input {x.shape} must have an even size")
    a, b = split(x, x.shape[dim] // 2, dim)
    return a * gf.sigmoid(b)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, weight * x otherwise; weight has 1 entry or one per channel (dim 1).

    Example:
        >>> F.prelu(gf.tensor([[-1.0, 2.0]]), gf.tensor([0.25])).tolist()
        [[-0.25, 2.0]]
    """
    if weight.ndim != 1:
        raise ShapeError(f"prelu: weight must be 1-D, got shape {weight.shape}")
    count = weight.shape[0]
    if count != 1:
        channels = x.shape[1] if x.ndim >= 2 else (x.shape[0] if x.ndim == 1 else 1)
        if channels != count:
            raise ShapeError(f"prelu: weight has {count} entries but input {x.shape} has "
                             f"{channels} channels (dimension 1); use 1 or {channels}")
        if x.ndim >= 2:
            weight = weight.reshape((count,) + (1,) * (x.ndim - 2))
    return gf.where(x > 0, x, x * weight)


def threshold(x: Tensor, threshold: float, value: float) -> Tensor:
    """x where x > threshold, else value.

    Example:
        >>> F.threshold(gf.tensor([0.5, 2.0]), 1.0, -1.0).tolist()
        [-1.0, 2.0]
    """
    return gf.where(x > float(threshold), x, float(value))
