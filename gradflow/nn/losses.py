"""Loss modules: thin wrappers that hold the options of gradflow.nn.functional's losses."""

from __future__ import annotations

from gradflow.nn import functional as F
from gradflow.nn.functional_losses import _check_reduction
from gradflow.nn.module import Module
from gradflow.tensor import Tensor


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    # NOTE: no extra_repr: PyTorch's losses show no settings in their repr


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or probabilities (see F.cross_entropy).

    Args:
        weight: per-class weights (C,), or None.
        ignore_index: a target value that contributes nothing.
        reduction: "mean", "sum" or "none".
        label_smoothing: in [0, 1].

    Example:
        >>> nn.CrossEntropyLoss()(gf.zeros(2, 4), gf.tensor([1, 3])).item()
        1.3862943649291992
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices given log-probabilities (see F.nll_loss).

    Example:
        >>> nn.NLLLoss()(F.log_softmax(gf.zeros(2, 4), 1), gf.tensor([1, 3])).item()
        1.3862943649291992
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error.

    Example:
        >>> nn.MSELoss()(gf.tensor([1.0, 3.0]), gf.zeros(2)).item()
        5.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    Example:
        >>> nn.L1Loss()(gf.tensor([1.0, -3.0]), gf.zeros(2)).item()
        2.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below `beta`, linear above (see F.smooth_l1_loss).

    Example:
        >>> nn.SmoothL1Loss(beta=1.0)(gf.tensor([3.0]), gf.zeros(1)).item()
        2.5
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities (see F.binary_cross_entropy).

    Example:
        >>> nn.BCELoss()(gf.tensor([0.5]), gf.tensor([1.0])).item()
        0.6931471824645996
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy on logits, stable for large values (see
    F.binary_cross_entropy_with_logits).

    Args:
        weight: per-element weight, or None.
        reduction: "mean", "sum" or "none".
        pos_weight: weight of the positive examples per class, or None.

    Example:
        >>> nn.BCEWithLogitsLoss()(gf.tensor([0.0]), gf.tensor([1.0])).item()
        0.6931471824645996
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None):
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)
