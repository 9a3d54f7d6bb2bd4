"""Copies, dtype casts and device transfers: the ops behind Tensor.clone and Tensor.to."""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.tensor import Tensor


class Clone(Function):
    def forward(self, x):
        return self.backend.xp.asarray(x, copy=True)

    def backward(self, grad):
        return grad


class Cast(Function):
    params = ("target",)
    saved = ("source",)

    def forward(self, x):
        self.source = x.dtype
        return self.backend.xp.astype(x, self.target)

    def backward(self, grad):
        return Cast.apply(grad, target=self.source)


class Transfer(Function):
    """Copy to another device; the gradient goes back to the source device."""

    params = ("target",)

    def forward(self, x):
        return self.target.from_host(self.backend.to_host(x))

    def backward(self, grad):
        return transfer(grad, self.backend)


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)


def cast(x: Tensor, dtype) -> Tensor:
    """Convert to a gradflow dtype (differentiable between float dtypes)."""
    target = x.backend.xp_dtype(dtype)
    if x.data.dtype == target:
        return x
    out = Cast.apply(x, target=target)
    if not dtype.is_floating_point and out.requires_grad:
        out.requires_grad, out.creator = False, None
    return out


def transfer(x: Tensor, target) -> Tensor:
    out = Transfer.apply(x, target=target)
    out.backend = target
    return out
