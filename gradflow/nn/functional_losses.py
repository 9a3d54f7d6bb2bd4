"""Loss functions (re-exported by gradflow.nn.functional).

Class-index targets are checked on the host once per call: a label outside
[0, C) that is not `ignore_index` raises ConfigError naming the label and C.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.amp import autocast_inputs
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if input.shape != target.shape:
        raise ShapeError(f"{op}: input of shape {input.shape} and target of shape {target.shape} "
                         "differ; reshape one of them (gradflow does not broadcast losses)")


def _classes_last(input: Tensor, op: str) -> tuple[Tensor, tuple[int, ...]]:
    """Scores as (M, C) rows and the shape of the per-sample loss."""
    if input.ndim == 0:
        raise ShapeError(f"{op}: expects input (C,), (N, C) or (N, C, d1, ...), got ()")
    if input.ndim == 1:
        return input.reshape(1, -1), ()
    if input.ndim == 2:
        return input, (input.shape[0],)
    moved = input.permute(0, *range(2, input.ndim), 1)
    return moved.reshape(-1, input.shape[1]), (input.shape[0], *input.shape[2:])


def _check_labels(target: Tensor, sample_shape, classes: int, ignore_index: int, op: str) -> None:
    if tuple(target.shape) != tuple(sample_shape):
        raise ShapeError(f"{op}: class-index target of shape {target.shape} does not fit the "
                         f"input; expected {tuple(sample_shape)}")
    if target.dtype.name == "bool":
        raise DTypeError(f"{op}: class-index target is bool; labels must be integers "
                         "(target.long()), or class probabilities of the input's shape")
    labels = target.numpy()
    bad = labels[(labels != ignore_index) & ((labels < 0) | (labels >= classes))]
    if bad.size:
        raise ConfigError(f"{op}: label {int(bad[0])} is out of range for {classes} classes "
                          f"(valid labels are 0..{classes - 1}, or ignore_index={ignore_index})")


def _weighted_pick(logp: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int):
    """-logp[i, target[i]] and the weight of each row (0 where ignored)."""
    backend = logp.backend
    xp = backend.xp
    labels = xp.reshape(target.data, (-1,))
    valid = labels != ignore_index
    safe = Tensor._wrap(xp.where(valid, labels, xp.zeros_like(labels)), backend)
    mask = Tensor._wrap(xp.astype(valid, logp.data.dtype), backend)
    rows = gf.arange(labels.shape[0], device=backend)
    picked = -logp[rows, safe]
    row_weight = mask if weight is None else weight[safe] * mask
    return picked, row_weight, mask


def _check_index_target(scores: Tensor, target: Tensor, sample_shape, weight,
                        ignore_index: int, op: str) -> None:
    """Class-index targets and weight fit scores (M, C): same device, shapes, labels."""
    if target.backend is not scores.backend:
        from gradflow.autograd.function import mismatch_error

        raise mismatch_error(op, (scores, target))
    classes = scores.shape[1]
    if weight is not None and weight.shape != (classes,):
        raise ShapeError(f"{op}: weight of shape {weight.shape} for {classes} classes")
    _check_labels(target, sample_shape, classes, ignore_index, op)


def _index_loss(logp: Tensor, target: Tensor, sample_shape, weight, ignore_index: int,
                reduction: str, label_smoothing: float, op: str) -> Tensor:
    _check_index_target(logp, target, sample_shape, weight, ignore_index, op)
    classes = logp.shape[1]
    picked, row_weight, mask = _weighted_pick(logp, target, weight, ignore_index)
    loss = picked * row_weight
    if label_smoothing > 0.0:
        spread = logp if weight is None else logp * weight
        smooth = -spread.sum(1) * mask
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
    if reduction == "none":
        return loss.reshape(sample_shape)
    if reduction == "sum":
        return loss.sum()
    # NOTE: the mean divides by the total weight of the non-ignored targets (PyTorch's rule);
    # when every target is ignored this is 0/0 = nan.
    return loss.sum() / row_weight.sum()


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities.

    Computed from log_softmax, so logits of 1e4 give finite losses and gradients.

    Args:
        input: logits of shape (C,), (N, C) or (N, C, d1, ...).
        target: integer class indices of shape (), (N,) or (N, d1, ...), or floating
            probabilities of the input's shape.
        weight: per-class weights of shape (C,), or None.
        ignore_index: a class-index target value that contributes nothing.
        reduction: "mean", "sum" or "none".
        label_smoothing: in [0, 1]; mixes the target with the uniform distribution.

    Returns:
        The loss (a scalar, or per sample with reduction="none").

    Raises:
        ConfigError: a label outside [0, C) that is not ignore_index.

    Example:
        >>> F.cross_entropy(gf.tensor([[1e4, 0.0]]), gf.tensor([0])).item()
        0.0
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ConfigError(f"cross_entropy: label_smoothing must lie in [0, 1], "
                          f"got {label_smoothing}")
    input, target, weight = autocast_inputs("cross_entropy", input, target, weight)
    rows, sample_shape = _classes_last(input, "cross_entropy")
    if target.dtype.is_floating_point and tuple(target.shape) == sample_shape != input.shape:
        raise DTypeError(f"cross_entropy: target of shape {target.shape} holds class indices "
                         f"but is {target.dtype.name}; labels must be integers (target.long()), "
                         f"or give class probabilities of the input's shape {input.shape}")
    if not target.dtype.is_floating_point and (weight is None or not weight.requires_grad):
        from gradflow.ops.loss import softmax_cross_entropy

        _check_index_target(rows, target, sample_shape, weight, ignore_index, "cross_entropy")
        if weight is not None and weight.backend is not rows.backend:
            from gradflow.autograd.function import mismatch_error

            raise mismatch_error("cross_entropy", (rows, weight))
        loss = softmax_cross_entropy(rows, target.reshape(-1), weight, ignore_index,
                                     reduction, float(label_smoothing))
        return loss.reshape(sample_shape) if reduction == "none" else loss
    logp = gf.log_softmax(rows, dim=1)
    if not target.dtype.is_floating_point:
        return _index_loss(logp, target, sample_shape, weight, ignore_index, reduction,
                           float(label_smoothing), "cross_entropy")
    _same_shape(input, target, "cross_entropy (probability targets)")
    probs, _ = _classes_last(target, "cross_entropy")
    classes = rows.shape[1]
    if label_smoothing > 0.0:
        probs = probs * (1.0 - label_smoothing) + label_smoothing / classes
    terms = logp * probs if weight is None else logp * probs * weight
    loss = -terms.sum(1).reshape(sample_shape)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices, given log-probabilities.

    Args:
        input: log-probabilities of shape (C,), (N, C) or (N, C, d1, ...).
        target: integer class indices of shape (), (N,) or (N, d1, ...).
        weight, ignore_index, reduction: as in cross_entropy.

    Returns:
        The loss.

    Example:
        >>> F.nll_loss(F.log_softmax(gf.zeros(2, 4), 1), gf.tensor([1, 3])).item()
        1.3862943649291992
    """
    _check_reduction(reduction, "nll_loss")
    if target.dtype.is_floating_point:
        raise DTypeError(f"nll_loss: target must hold integer class indices, "
                         f"got {target.dtype.name}")
    input, weight = autocast_inputs("nll_loss", input, weight)
    rows, sample_shape = _classes_last(input, "nll_loss")
    return _index_loss(rows, target, sample_shape, weight, ignore_index, reduction, 0.0,
                       "nll_loss")


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error, (input - target)**2 reduced.

    Example:
        >>> F.mse_loss(gf.tensor([1.0, 3.0]), gf.tensor([0.0, 0.0])).item()
        5.0
    """
    _check_reduction(reduction, "mse_loss")
    _same_shape(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error, |input - target| reduced.

    Example:
        >>> F.l1_loss(gf.tensor([1.0, -3.0]), gf.tensor([0.0, 0.0])).item()
        2.0
    """
    _check_reduction(reduction, "l1_loss")
    _same_shape(input, target, "l1_loss")
    return _reduce(gf.abs(input - target), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Quadratic for |d| < beta (0.5 d**2 / beta), linear beyond (|d| - beta / 2).

    Example:
        >>> F.smooth_l1_loss(gf.tensor([0.5, 3.0]), gf.zeros(2), reduction="none").tolist()
        [0.125, 2.5]
    """
    _check_reduction(reduction, "smooth_l1_loss")
    _same_shape(input, target, "smooth_l1_loss")
    if beta < 0:
        raise ConfigError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    distance = gf.abs(input - target)
    if beta == 0.0:
        return _reduce(distance, reduction)
    diff = input - target
    loss = gf.where(distance < beta, diff * diff * (0.5 / beta), distance - 0.5 * beta)
    return _reduce(loss, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities and targets in [0, 1].

    Logarithms are clamped at -100, as in PyTorch, so a probability of exactly 0
    or 1 gives a finite loss.

    Example:
        >>> F.binary_cross_entropy(gf.tensor([0.5]), gf.tensor([1.0])).item()
        0.6931471824645996
    """
    _check_reduction(reduction, "binary_cross_entropy")
    _same_shape(input, target, "binary_cross_entropy")
    # NOTE: clamping the probability first keeps log's gradient finite at 0; 1e-44 lies
    # below exp(-100) (also after float32 rounding), so the outer clamp still gives -100.
    tiny = 1e-44
    log_p = gf.clamp(gf.log(gf.clamp(input, min=tiny)), min=-100.0)
    log_not_p = gf.clamp(gf.log(gf.clamp(1.0 - input, min=tiny)), min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_not_p)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _softplus_of_negative(x: Tensor) -> Tensor:
    """log(1 + exp(-x)), stable for large |x|.

    NOTE: written as relu(-x) + log(1 + exp(-|x|)) with -|x| from `where`, so the
    gradient at x = 0 is the true -1/2 (a sign-based abs would give 0 there).
    """
    negative_abs = gf.where(x >= 0, -x, x)
    return gf.relu(-x) + gf.log(gf.exp(negative_abs) + 1.0)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy on logits, sigmoid included, stable for large logits.

    Args:
        input: logits.
        target: targets in [0, 1] of the input's shape.
        weight: broadcastable per-element weight, or None.
        reduction: "mean", "sum" or "none".
        pos_weight: weight of the positive term, per class (broadcast over the last
            dimension), or None.

    Returns:
        The loss.

    Example:
        >>> F.binary_cross_entropy_with_logits(gf.tensor([0.0]), gf.tensor([1.0])).item()
        0.6931471824645996
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    softplus = _softplus_of_negative(input)  # -log(sigmoid(x))
    if pos_weight is None:
        loss = (1.0 - target) * input + softplus
    else:
        # -[pw t log s(x) + (1 - t) log(1 - s(x))], with log(1 - s(x)) = -x - softplus(-x)
        loss = (1.0 - target) * input + (target * (pos_weight - 1.0) + 1.0) * softplus
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)
