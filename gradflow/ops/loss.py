"""Softmax cross-entropy against class indices as one op (behind F.cross_entropy).

Composed from log_softmax, indexing, products and sums, the loss records a dozen nodes
for a few hundred numbers; here the forward keeps the softmax probabilities and the
gradient is one expression, (p - onehot) times a per-row coefficient (plus the label
smoothing term). Under create_graph=True the same expression is built from gradflow ops
on the logits, so second derivatives flow.
"""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.tensor import Tensor


class SoftmaxCrossEntropy(Function):
    """Per-row losses of logits rows (M, C) against labels (M,), reduced.

    Parameters: weight (a (C,) array or None), ignore_index, reduction ("mean", "sum"
    or "none"), label_smoothing.
    """

    params = ("weight", "ignore_index", "reduction", "label_smoothing")
    saved = ("probs", "onehot", "mask", "row_weight", "denominator")
    grad_reads = ((0,), ())  # under create_graph the softmax is recomputed from the logits

    def forward(self, rows, labels):
        xp = self.backend.xp
        classes = rows.shape[1]
        shifted = rows - xp.max(rows, axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = xp.sum(e, axis=1, keepdims=True)
        logp = shifted - xp.log(total)
        self.probs = e / total
        valid = labels != self.ignore_index
        safe = xp.where(valid, labels, xp.zeros_like(labels))
        columns = xp.arange(classes, dtype=labels.dtype, device=self.backend.device)
        self.onehot = xp.astype(columns[None, :] == safe[:, None], rows.dtype)
        self.mask = xp.astype(valid, rows.dtype)
        weight = self.weight
        self.row_weight = self.mask if weight is None else xp.take(weight, safe) * self.mask
        # NOTE: pick the label's log-probability with where, not a product with the one-hot:
        # a masked (-inf) logit elsewhere in the row would give 0 * -inf = nan.
        picked = xp.where(self.onehot * self.mask[:, None] > 0, logp, xp.zeros_like(logp))
        loss = -xp.sum(picked, axis=1) * self.row_weight
        smoothing = self.label_smoothing
        if smoothing > 0.0:
            spread = logp if weight is None else logp * weight
            smooth = -xp.sum(spread, axis=1) * self.mask
            loss = loss * (1.0 - smoothing) + smooth * (smoothing / classes)
        if self.reduction == "none":
            return loss
        if self.reduction == "sum":
            return xp.sum(loss)
        # NOTE: the mean divides by the total weight of the non-ignored targets (PyTorch's
        # rule); when every target is ignored this is 0/0 = nan.
        self.denominator = xp.sum(self.row_weight)
        return xp.sum(loss) / self.denominator

    def backward(self, grad):
        from gradflow.ops.shape import reshape

        backend = self.backend

        def const(array):
            return Tensor._wrap(array, backend)

        # NOTE: the probabilities saved by forward are constants; when a graph of the
        # gradient is built they are recomputed from the logits so second derivatives flow.
        if _grad_state.enabled:
            from gradflow.ops.activation import softmax

            probs = softmax(self.inputs[0], 1)
        else:
            probs = const(self.probs)
        # NOTE: the constant factors (row weights, smoothing, the mean's denominator) are
        # multiplied on arrays first, so the gradient costs three ops, not five
        smoothing = self.label_smoothing
        scale = self.row_weight * (1.0 - smoothing)
        if self.reduction == "none":
            per_row = reshape(grad, (-1, 1))
        else:
            per_row = grad
            if self.reduction == "mean":
                scale = scale / self.denominator
        rows_grad = (probs - const(self.onehot)) * const(scale[:, None])
        if smoothing > 0.0:
            classes = self.onehot.shape[1]
            weight = self.weight
            coef = self.mask * (smoothing / classes)
            if self.reduction == "mean":
                coef = coef / self.denominator
            coef = const(coef[:, None])
            if weight is None:
                rows_grad = rows_grad + (probs * float(classes) - 1.0) * coef
            else:
                total = const(backend.xp.sum(weight))
                rows_grad = rows_grad + (probs * total - const(weight)) * coef
        return rows_grad * per_row, None


def softmax_cross_entropy(rows: Tensor, labels: Tensor, weight: Tensor | None,
                          ignore_index: int, reduction: str, label_smoothing: float) -> Tensor:
    """Cross-entropy of rows (M, C) of logits against labels (M,); checked by the caller."""
    data = None
    if weight is not None:
        data = weight.data
        if data.dtype != rows.data.dtype:
            data = rows.backend.xp.astype(data, rows.data.dtype)
    return SoftmaxCrossEntropy.apply(rows, labels, weight=data, ignore_index=ignore_index,
                                     reduction=reduction, label_smoothing=label_smoothing)
