"""Reductions: sum, max (primitives); mean, var, std, logsumexp, min (composites)."""

from __future__ import annotations

import builtins
from collections import namedtuple

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function
from gradflow.ops._util import normalize_dims
from gradflow.tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _keepdim_shape(shape, dims) -> tuple[int, ...]:
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Function):
    def forward(self, x):
        self.in_shape = x.shape
        return self.backend.xp.sum(x, axis=self.dims, keepdims=self.keepdim)

    def backward(self, grad):
        from gradflow.ops.shape import broadcast_to, reshape

        if not self.keepdim:
            grad = reshape(grad, _keepdim_shape(self.in_shape, self.dims))
        return broadcast_to(grad, self.in_shape)


class SumTo(Function):
    """Sum a broadcast gradient back to `shape`: the engine's one shared reduction."""

    def forward(self, x):
        self.in_shape = x.shape
        xp = self.backend.xp
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and x.shape[lead + i] != 1
        )
        out = xp.sum(x, axis=axes, keepdims=True) if axes else x
        return xp.reshape(out, self.shape)

    def backward(self, grad):
        from gradflow.ops.shape import broadcast_to

        return broadcast_to(grad, self.in_shape)


class Max(Function):
    saves_inputs = True
    saves_output = True

    def forward(self, x):
        return self.backend.xp.max(x, axis=self.dims, keepdims=self.keepdim)

    def backward(self, grad):
        # NOTE: tied maxima share the gradient equally (PyTorch's amax rule).
        from gradflow.ops.shape import reshape

        x = self.inputs[0].data
        xp = self.backend.xp
        shape = _keepdim_shape(x.shape, self.dims)
        top = xp.reshape(self.out_data, shape)
        mask = xp.astype(x == top, x.dtype)
        share = mask / xp.sum(mask, axis=self.dims, keepdims=True)
        return reshape(grad, shape) * Tensor._wrap(share, self.backend)


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum `x` over broadcast dimensions so that it has `shape`."""
    shape = tuple(shape)
    if tuple(x.data.shape) == shape:
        return x
    return SumTo.apply(x, shape=shape)


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over `dim` (an int, a tuple, or None for all).

    Example:
        >>> gf.ones(2, 3).sum(dim=1).tolist()
        [3.0, 3.0]
    """
    (x,) = autocast_inputs("sum", x)
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.name == "bool":
        x = x.long()
    return Sum.apply(x, dims=normalize_dims(dim, x.ndim, "sum"), keepdim=keepdim)


def _count(x: Tensor, dims) -> int:
    if dims is None:
        return x.numel()
    n = 1
    for d in dims:
        n *= x.shape[d]
    return n


def mean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Arithmetic mean over `dim`."""
    (x,) = autocast_inputs("mean", x)
    dims = normalize_dims(dim, x.ndim, "mean")
    if not x.dtype.is_floating_point:
        x = x.float()
    return Sum.apply(x, dims=dims, keepdim=keepdim) * (1.0 / builtins.max(_count(x, dims), 1))


def var(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Variance over `dim`, dividing by N - correction (1 by default, as in PyTorch)."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = normalize_dims(dim, x.ndim, "var")
    n = _count(x, dims)
    centered = x - mean(x, dim, keepdim=True)
    total = Sum.apply(centered * centered, dims=dims, keepdim=keepdim)
    return total * (1.0 / (n - correction) if n > correction else float("nan"))


def std(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Standard deviation, sqrt(var)."""
    from gradflow.ops.elementwise import sqrt

    return sqrt(var(x, dim, keepdim, correction=correction, unbiased=unbiased))


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Max.apply(x, dims=normalize_dims(dim, x.ndim, "max"), keepdim=keepdim)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return -amax(-x, dim, keepdim)


def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The largest value; with `dim`, (values, indices) as in PyTorch; with a tensor, maximum."""
    if isinstance(dim, Tensor):
        from gradflow.ops.elementwise import maximum

        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return ValuesIndices(amax(x, dim, keepdim), argmax(x, dim, keepdim))


def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The smallest value; with `dim`, (values, indices); with a tensor, minimum."""
    if isinstance(dim, Tensor):
        from gradflow.ops.elementwise import minimum

        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return ValuesIndices(amin(x, dim, keepdim), argmin(x, dim, keepdim))


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the first largest value (over the flattened tensor when dim is None)."""
    xp = x.backend.xp
    data = x.data
    dims = normalize_dims(dim, x.ndim, "argmax")
    if not dims:  # all elements: dim is None, or x is 0-d
        data = xp.reshape(data, (-1,))
        result = xp.argmax(data)
        if keepdim:
            result = xp.reshape(result, (1,) * x.ndim)
    else:
        (axis,) = dims
        result = xp.argmax(data, axis=axis, keepdims=keepdim)
    return Tensor._wrap(xp.astype(result, x.backend.index_dtype), x.backend)


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the first smallest value."""
    xp = x.backend.xp
    data = x.data
    dims = normalize_dims(dim, x.ndim, "argmin")
    if not dims:  # all elements: dim is None, or x is 0-d
        result = xp.argmin(xp.reshape(data, (-1,)))
        if keepdim:
            result = xp.reshape(result, (1,) * x.ndim)
    else:
        (axis,) = dims
        result = xp.argmin(data, axis=axis, keepdims=keepdim)
    return Tensor._wrap(xp.astype(result, x.backend.index_dtype), x.backend)


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably.

    NOTE: the maximum is subtracted first (as a constant) so exp never overflows;
    rows that are all -inf give -inf, not NaN.
    """
    from gradflow.ops.elementwise import exp, log

    xp = x.backend.xp
    dims = normalize_dims(dim, x.ndim, "logsumexp")
    top = xp.max(x.data, axis=dims, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    shift = Tensor._wrap(top, x.backend)
    out = log(Sum.apply(exp(x - shift), dims=dims, keepdim=True)) + shift
    if not keepdim:
        from gradflow.ops.shape import reshape

        out = reshape(out, tuple(s for i, s in enumerate(out.shape) if i not in dims))
    return out


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = x.backend.xp
    return Tensor._wrap(xp.all(x.data, axis=normalize_dims(dim, x.ndim, "all"), keepdims=keepdim),
                        x.backend)


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = x.backend.xp
    return Tensor._wrap(xp.any(x.data, axis=normalize_dims(dim, x.ndim, "any"), keepdims=keepdim),
                        x.backend)


def norm(x: Tensor, p: float = 2.0, dim=None, keepdim: bool = False) -> Tensor:
    """The p-norm over `dim` (all elements by default)."""
    from gradflow.ops.elementwise import abs as absolute
    from gradflow.ops.elementwise import sqrt

    (x,) = autocast_inputs("norm", x)
    if p == 2.0:
        return sqrt(sum(x * x, dim, keepdim))
    if p == float("inf"):
        return amax(absolute(x), dim, keepdim)
    return sum(absolute(x) ** p, dim, keepdim) ** (1.0 / p)
