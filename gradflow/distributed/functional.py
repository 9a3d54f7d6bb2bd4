"""Collectives that autograd can go through (SyncBatchNorm's statistics)."""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.distributed.collectives import reduce_array
from gradflow.tensor import Tensor


class AllReduceSum(Function):
    """y = the sum of x over all ranks. Saves nothing.

    NOTE: the gradient is the sum of the ranks' output gradients: rank r's x feeds y on
    every rank, and each rank's loss reaches x_r through its own y.
    """

    def forward(self, x):
        return reduce_array(x, self.backend, in_place=False, async_op=False).result()

    def backward(self, grad):
        return AllReduceSum.apply(grad)


def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of `x` over all ranks, differentiable (every rank calls it, in the same order).

    Example:
        >>> dist.init_process_group()
        >>> h = model(x)
        >>> n = dist.all_reduce_object(h.shape[0])      # the global batch size
        >>> mean = all_reduce_sum(h.sum(0)) / n          # the global batch's mean, per class
        >>> mean.shape
        (3,)
        >>> mean.sum().backward()                        # reaches model's parameters on every rank
        >>> model[0].weight.grad is not None
        True
    """
    return AllReduceSum.apply(x)
