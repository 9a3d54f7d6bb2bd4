"""More losses, as torch.nn.functional has them: kl_div, huber, Poisson and Gaussian
negative log-likelihoods, and the margin and embedding losses.

Composed from gradflow's differentiable ops; re-exported by gradflow.nn.functional.
Targets of the sign losses (margin_ranking, hinge_embedding, cosine_embedding) are
1 or -1, as in PyTorch.
"""

from __future__ import annotations

import math

import gradflow as gf
from gradflow.errors import ConfigError, ShapeError
from gradflow.nn.functional_activation import logsigmoid, softplus
from gradflow.nn.functional_extra import pairwise_distance
from gradflow.nn.functional_losses import _check_reduction, _reduce, _same_shape
from gradflow.ops.cast import cast
from gradflow.tensor import Tensor

__all__ = [
    "cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
    "margin_ranking_loss", "multi_margin_loss", "multilabel_soft_margin_loss",
    "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
]


def _xlogy(x: Tensor) -> Tensor:
    """x * log(x), 0 where x == 0."""
    positive = x > 0
    return gf.where(positive, x * gf.log(gf.where(positive, x, 1.0)), 0.0)


def kl_div(input: Tensor, target: Tensor, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence with `input` given as log-probabilities.

    Pointwise loss target * (log(target) - input) (0 where target is 0), or, with
    log_target=True, exp(target) * (target - input).

    Args:
        input: log-probabilities.
        target: probabilities (log-probabilities with log_target=True), input's shape.
        reduction: "mean" (over all elements), "batchmean" (sum / batch size, the
            mathematically right one), "sum" or "none".
        log_target: whether target holds log-probabilities.

    Returns:
        The reduced loss.

    Example:
        >>> p = F.log_softmax(gf.randn(3, 5), dim=1)
        >>> F.kl_div(p, p, reduction="batchmean", log_target=True).item()
        0.0
    """
    if reduction != "batchmean":
        _check_reduction(reduction, "kl_div")
    _same_shape(input, target, "kl_div")
    if log_target:
        loss = gf.exp(target) * (target - input)
    else:
        loss = _xlogy(target) - target * input
    if reduction == "batchmean":
        return loss.sum() * (1.0 / input.shape[0]) if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """0.5 d**2 where |d| < delta, delta * (|d| - delta / 2) beyond, d = input - target.

    Example:
        >>> F.huber_loss(gf.tensor([0.5, 3.0]), gf.zeros(2), reduction="none").tolist()
        [0.125, 2.5]
    """
    _check_reduction(reduction, "huber_loss")
    _same_shape(input, target, "huber_loss")
    delta = float(delta)
    if delta <= 0:
        raise ConfigError(f"huber_loss: delta must be positive, got {delta}")
    diff = input - target
    distance = gf.abs(diff)
    loss = gf.where(distance < delta, diff * diff * 0.5, (distance - 0.5 * delta) * delta)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of `target` counts under a Poisson of rate `input`.

    Args:
        input: the log-rate (log_input=True) or the rate.
        target: counts, input's shape.
        log_input: exp(input) - target * input if True, else input - target * log(input + eps).
        full: add Stirling's approximation of log(target!) for targets above 1.
        eps: keeps log finite for a zero rate (log_input=False).
        reduction: "mean", "sum" or "none".

    Example:
        >>> F.poisson_nll_loss(gf.zeros(3), gf.ones(3)).item()
        1.0
    """
    _check_reduction(reduction, "poisson_nll_loss")
    _same_shape(input, target, "poisson_nll_loss")
    if log_input:
        loss = gf.exp(input) - target * input
    else:
        loss = input - target * gf.log(input + float(eps))
    if full:
        above = target > 1
        safe = gf.where(above, target, 1.0)
        stirling = safe * gf.log(safe) - safe + gf.log(safe * (2.0 * math.pi)) * 0.5
        loss = loss + gf.where(above, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of `target` under a Gaussian of mean `input` and variance `var`.

    0.5 * (log(max(var, eps)) + (input - target)**2 / max(var, eps)) (+ 0.5 log(2 pi) with
    full=True). As in PyTorch, the clamp at eps does not stop var's gradient.

    Args:
        input: the predicted means.
        target: the observations, input's shape.
        var: the predicted variances: input's shape, with a last dimension of 1, or
            without the last dimension (one variance per sample).
        full: add the constant term.
        eps: the smallest variance used.
        reduction: "mean", "sum" or "none".

    Example:
        >>> F.gaussian_nll_loss(gf.zeros(2, 3), gf.zeros(2, 3), gf.ones(2, 3)).item()
        0.0
    """
    _check_reduction(reduction, "gaussian_nll_loss")
    _same_shape(input, target, "gaussian_nll_loss")
    if var.shape != input.shape:
        if input.ndim and var.shape == input.shape[:-1]:
            var = var.unsqueeze(-1)
        elif not (input.ndim and var.shape == input.shape[:-1] + (1,)):
            raise ShapeError(f"gaussian_nll_loss: var of shape {var.shape} does not fit input "
                             f"{input.shape}; give input's shape, or it with a last size of 1")
    if bool((var.detach() < 0).any()):
        raise ConfigError("gaussian_nll_loss: var has negative entries")
    floor = gf.clamp(var.detach(), min=float(eps)) - var.detach()
    var = var + floor  # NOTE: values clamped, gradient passed through (PyTorch's choice)
    diff = input - target
    loss = (gf.log(var) + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target * (input1 - input2) + margin), target 1 (input1 ranks higher) or -1.

    Example:
        >>> F.margin_ranking_loss(gf.tensor([2.0]), gf.tensor([1.0]), gf.tensor([1.0])).item()
        0.0
    """
    _check_reduction(reduction, "margin_ranking_loss")
    _same_shape(input1, input2, "margin_ranking_loss")
    return _reduce(gf.relu(-target * (input1 - input2) + float(margin)), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """input where target is 1, max(0, margin - input) where target is -1.

    Example:
        >>> F.hinge_embedding_loss(gf.tensor([0.3, 2.0]), gf.tensor([1.0, -1.0])).item()
        0.15000000596046448
    """
    _check_reduction(reduction, "hinge_embedding_loss")
    _same_shape(input, target, "hinge_embedding_loss")
    away = gf.where(target != 1, gf.relu(-input + float(margin)), 0.0)
    near = gf.where(target != -1, input, 0.0)
    return _reduce(away + near, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(input1, input2) where target is 1, max(0, cos - margin) where it is -1.

    Args:
        input1, input2: (N, D) or (D,).
        target: (N,) or () of 1 and -1.
        margin: in [-1, 1].
        reduction: "mean", "sum" or "none".

    Example:
        >>> x = gf.randn(4, 3)
        >>> round(F.cosine_embedding_loss(x, x, gf.ones(4)).item(), 5)
        0.0
    """
    _check_reduction(reduction, "cosine_embedding_loss")
    _same_shape(input1, input2, "cosine_embedding_loss")
    if input1.ndim not in (1, 2):
        raise ShapeError(f"cosine_embedding_loss: expects inputs (N, D) or (D,), "
                         f"got {input1.shape}")
    dim = input1.ndim - 1
    # NOTE: PyTorch's formula here differs from cosine_similarity: eps 1e-12 is added to
    # each squared norm
    squared = (input1 * input1).sum(dim) + 1e-12
    cos = (input1 * input2).sum(dim) / gf.sqrt(squared * ((input2 * input2).sum(dim) + 1e-12))
    loss = gf.where(target == 1, -cos + 1.0, 0.0) + gf.where(
        target == -1, gf.relu(cos - float(margin)), 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                        swap: bool = False, reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm distance (F.pairwise_distance).

    Args:
        anchor, positive, negative: (N, D) or (D,).
        margin: the wanted gap between the distances.
        p: the norm's degree.
        eps: added to the differences (as PyTorch does).
        swap: use min(d(a, n), d(p, n)) as the negative distance.
        reduction: "mean", "sum" or "none".

    Example:
        >>> a = gf.randn(4, 3)
        >>> F.triplet_margin_loss(a, a, a + 10.0).item()
        0.0
    """
    _check_reduction(reduction, "triplet_margin_loss")
    for other in (positive, negative):
        _same_shape(anchor, other, "triplet_margin_loss")
    near = pairwise_distance(anchor, positive, p, eps)
    far = pairwise_distance(anchor, negative, p, eps)
    if swap:
        far = gf.minimum(far, pairwise_distance(positive, negative, p, eps))
    return _reduce(gf.relu(near - far + float(margin)), reduction)


def _one_hot_mask(target: Tensor, classes: int, like: Tensor) -> Tensor:
    """(N, C) float mask with 1 at each row's target class."""
    classes_row = gf.arange(classes, device=target.backend).reshape(1, -1)
    return cast(target.reshape(-1, 1) == classes_row, like.dtype)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: sum over i != y of max(0, margin - x[y] + x[i])**p / C.

    Args:
        input: scores (N, C) or (C,).
        target: class indices (N,) or ().
        p: 1 or 2.
        margin: the wanted gap.
        weight: per-class weights (C,) applied to each sample's target class, or None.
        reduction: "mean", "sum" or "none".

    Example:
        >>> F.multi_margin_loss(gf.tensor([[0.1, 0.2, 0.4, 0.8]]), gf.tensor([3])).item()
        0.32499998807907104
    """
    _check_reduction(reduction, "multi_margin_loss")
    if p not in (1, 2):
        raise ConfigError(f"multi_margin_loss: p must be 1 or 2, got {p}")
    scores = input.reshape(1, -1) if input.ndim == 1 else input
    if scores.ndim != 2 or target.numel() != scores.shape[0]:
        raise ShapeError(f"multi_margin_loss: expects input (N, C) with target (N,), got "
                         f"{input.shape} and {target.shape}")
    classes = scores.shape[1]
    hot = _one_hot_mask(target, classes, scores)
    picked = (scores * hot).sum(1, keepdim=True)
    hinge = gf.relu(scores - picked + float(margin)) * (-hot + 1.0)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * (hot * weight.reshape(1, -1)).sum(1, keepdim=True)
    loss = hinge.sum(1) * (1.0 / classes)
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                reduction: str = "mean") -> Tensor:
    """Per-class logistic loss averaged over the C classes of each sample.

    -(y log sigmoid(x) + (1 - y) log sigmoid(-x)), times weight (C,) if given.

    Example:
        >>> round(F.multilabel_soft_margin_loss(gf.zeros(2, 3), gf.ones(2, 3)).item(), 4)
        0.6931
    """
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    _same_shape(input, target, "multilabel_soft_margin_loss")
    loss = -(target * logsigmoid(input) + (-target + 1.0) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.mean(-1) if input.ndim else loss
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss log(1 + exp(-target * input)), target 1 or -1.

    Example:
        >>> round(F.soft_margin_loss(gf.zeros(2), gf.ones(2)).item(), 4)
        0.6931
    """
    _check_reduction(reduction, "soft_margin_loss")
    _same_shape(input, target, "soft_margin_loss")
    return _reduce(softplus(-target * input, threshold=math.inf), reduction)
