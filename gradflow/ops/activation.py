"""Softmax and log-softmax: primitives because the composed forms lose precision."""

from __future__ import annotations

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function
from gradflow.ops._util import normalize_dim
from gradflow.tensor import Tensor


class Softmax(Function):
    params = ("dim",)
    saves_output = True

    def forward(self, x):
        # NOTE: subtracting the row maximum keeps exp in range for logits of 1e4.
        xp = self.backend.xp
        shifted = x - xp.max(x, axis=self.dim, keepdims=True)
        e = xp.exp(shifted)
        return e / xp.sum(e, axis=self.dim, keepdims=True)

    def backward(self, grad):
        from gradflow.ops.reduce import sum as total

        y = self.output
        return y * (grad - total(grad * y, self.dim, keepdim=True))


class LogSoftmax(Function):
    params = ("dim",)
    saves_output = True

    def forward(self, x):
        xp = self.backend.xp
        shifted = x - xp.max(x, axis=self.dim, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=self.dim, keepdims=True))

    def backward(self, grad):
        from gradflow.ops.elementwise import exp
        from gradflow.ops.reduce import sum as total

        return grad - exp(self.output) * total(grad, self.dim, keepdim=True)


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed stably.

    Example:
        >>> gf.softmax(gf.tensor([0.0, 0.0]), dim=0).tolist()
        [0.5, 0.5]
    """
    (x,) = autocast_inputs("softmax", x)
    return Softmax.apply(x, dim=normalize_dim(dim, x.ndim, "softmax"))


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along `dim`, without forming softmax (stable for large logits)."""
    (x,) = autocast_inputs("log_softmax", x)
    return LogSoftmax.apply(x, dim=normalize_dim(dim, x.ndim, "log_softmax"))
