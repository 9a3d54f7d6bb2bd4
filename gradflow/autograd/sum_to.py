"""The engine's one shared reduction, SumTo, and its adjoint BroadcastTo.

A rule returns its gradient in the broadcast shape; the engine sums it back to the
input's shape here. The pair lives in autograd/ so the engine needs nothing from ops/.
"""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.errors import GraphError
from gradflow.tensor import Tensor


class SumTo(Function):
    """Sum a broadcast gradient back to `shape`."""

    params = ("shape",)
    saved = ("in_shape",)

    def forward(self, x):
        self.in_shape = tuple(x.shape)
        xp = self.backend.xp
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1
        )
        out = xp.sum(x, axis=axes, keepdims=True) if axes else x
        return xp.reshape(out, self.shape)

    def backward(self, grad):
        return BroadcastTo.apply(grad, shape=self.in_shape)


class BroadcastTo(Function):
    """A read-only view of x repeated to `shape`; its gradient is summed back by the engine."""

    params = ("shape",)
    is_view = True

    def forward(self, x):
        return self.backend.xp.broadcast_to(x, self.shape)

    def backward(self, grad):
        return grad  # the engine's sum_to reduces it back to the input's shape

    def unview(self, base, value):
        raise GraphError(
            f"in-place change of a broadcast (expanded) tensor of shape {self.shape}: several "
            "of its elements are one element of the base; use .clone() first")


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum `x` over broadcast dimensions so that it has `shape`."""
    shape = tuple(shape)
    if tuple(x.data.shape) == shape:
        return x
    return SumTo.apply(x, shape=shape)
