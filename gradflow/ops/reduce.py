"""Reductions: sum, max (primitives); mean, var, std, logsumexp, min (composites)."""

from __future__ import annotations

import functools
from collections import namedtuple

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function
from gradflow.autograd.sum_to import sum_to  # noqa: F401 - gf.sum_to, x.sum_to()
from gradflow.errors import ConfigError, ShapeError
from gradflow.ops._util import normalize_dims
from gradflow.tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def dim_aliases(fn):
    """Accept NumPy's `axis=` and `keepdims=` as PyTorch does, besides `dim=` and `keepdim=`."""

    @functools.wraps(fn)
    def wrapper(x, *args, axis=_NOT_GIVEN, keepdims=_NOT_GIVEN, **kwargs):
        if axis is not _NOT_GIVEN:
            if "dim" in kwargs or args:
                raise ConfigError(f"{fn.__name__}: give dim or axis, not both")
            kwargs["dim"] = axis
        if keepdims is not _NOT_GIVEN:
            if "keepdim" in kwargs:
                raise ConfigError(f"{fn.__name__}: give keepdim or keepdims, not both")
            kwargs["keepdim"] = keepdims
        return fn(x, *args, **kwargs)

    return wrapper


_NOT_GIVEN = object()


def _dims(dim, x: Tensor, op: str):
    """Normalized reduction dims; an empty tuple or list means every dimension (PyTorch)."""
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    return normalize_dims(dim, x.ndim, op)


def _keepdim_shape(shape, dims) -> tuple[int, ...]:
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Function):
    params = ("dims", "keepdim")
    saved = ("in_shape",)

    def forward(self, x):
        self.in_shape = tuple(x.shape)
        return self.backend.xp.sum(x, axis=self.dims, keepdims=self.keepdim)

    def backward(self, grad):
        from gradflow.ops.shape import broadcast_to, reshape

        if not self.keepdim:
            grad = reshape(grad, _keepdim_shape(self.in_shape, self.dims))
        return broadcast_to(grad, self.in_shape)


class Max(Function):
    """The largest (or with `low`, the smallest) value over `dims`: computed directly, never
    by negation (the smallest int32 has no negative), on bools as any/all."""

    params = ("dims", "keepdim", "low")
    grad_reads = ((0,),)
    saves_output = True

    def forward(self, x):
        xp = self.backend.xp
        if x.dtype == xp.bool:
            fn = xp.all if self.low else xp.any
        else:
            fn = xp.min if self.low else xp.max
        return fn(x, axis=self.dims, keepdims=self.keepdim)

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


@dim_aliases
def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over `dim` (an int, a tuple, or None for all).

    Example:
        >>> gf.ones(2, 3).sum(dim=1).tolist()
        [3.0, 3.0]
    """
    (x,) = autocast_inputs("sum", x)
    if dtype is not None:
        x = x.to(dtype)
    elif not x.dtype.is_floating_point:
        x = x.long()  # integer sums accumulate in int64 (PyTorch)
    return Sum.apply(x, dims=_dims(dim, x, "sum"), keepdim=keepdim)


def _count(x: Tensor, dims) -> int:
    if dims is None:
        return x.numel()
    n = 1
    for d in dims:
        n *= x.shape[d]
    return n


@dim_aliases
def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Arithmetic mean over `dim`."""
    (x,) = autocast_inputs("mean", x)
    if dtype is not None:
        x = x.to(dtype)
    dims = _dims(dim, x, "mean")
    if not x.dtype.is_floating_point:
        x = x.float()
    count = _count(x, dims)
    # NOTE: the mean of no elements is NaN (0/0), as in PyTorch
    return Sum.apply(x, dims=dims, keepdim=keepdim) * (1.0 / count if count else float("nan"))


@dim_aliases
def var(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Variance over `dim`, dividing by N - correction (1 by default, as in PyTorch)."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = _dims(dim, x, "var")
    dim = dims
    n = _count(x, dims)
    centered = x - mean(x, dim, keepdim=True)
    total = Sum.apply(centered * centered, dims=dims, keepdim=keepdim)
    return total * (1.0 / (n - correction) if n > correction else float("nan"))


@dim_aliases
def std(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
        unbiased: bool | None = None) -> Tensor:
    """Standard deviation, sqrt(var); gradient 0 for a constant input (PyTorch)."""
    from gradflow.ops.elementwise import SqrtOfSquares

    return SqrtOfSquares.apply(var(x, dim, keepdim, correction=correction, unbiased=unbiased))


def _check_not_empty(x: Tensor, dims, op: str) -> None:
    """max, min, argmax and argmin have no value over zero elements: say so."""
    if _count(x, dims) == 0 and x.numel() == 0:
        where = "" if dims is None else f" along dim {dims[0] if len(dims) == 1 else dims}"
        raise ShapeError(f"{op}: the tensor of shape {x.shape} has no elements{where}, and "
                         f"{op} of nothing is undefined; check for empty input first")


@dim_aliases
def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    dims = _dims(dim, x, "amax")
    _check_not_empty(x, dims, "amax")
    return Max.apply(x, dims=dims, keepdim=keepdim, low=False)


@dim_aliases
def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    dims = _dims(dim, x, "amin")
    _check_not_empty(x, dims, "amin")
    return Max.apply(x, dims=dims, keepdim=keepdim, low=True)


@dim_aliases
def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The largest value; with `dim`, (values, indices) as in PyTorch; with a tensor, maximum."""
    if isinstance(dim, Tensor):
        from gradflow.ops.elementwise import maximum

        return maximum(x, dim)
    if dim is None:
        return amax(x)
    return ValuesIndices(amax(x, dim, keepdim), argmax(x, dim, keepdim))


@dim_aliases
def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The smallest value; with `dim`, (values, indices); with a tensor, minimum."""
    if isinstance(dim, Tensor):
        from gradflow.ops.elementwise import minimum

        return minimum(x, dim)
    if dim is None:
        return amin(x)
    return ValuesIndices(amin(x, dim, keepdim), argmin(x, dim, keepdim))


@dim_aliases
def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the first largest value (over the flattened tensor when dim is None)."""
    xp = x.backend.xp
    data = x.data if x.data.dtype != xp.bool else xp.astype(x.data, xp.int8)
    dims = normalize_dims(dim, x.ndim, "argmax")
    _check_not_empty(x, dims or None, "argmax")
    if not dims:  # all elements: dim is None, or x is 0-d
        data = xp.reshape(data, (-1,))
        result = xp.argmax(data)
        if keepdim:
            result = xp.reshape(result, (1,) * x.ndim)
    else:
        (axis,) = dims
        result = xp.argmax(data, axis=axis, keepdims=keepdim)
    return Tensor._wrap(xp.astype(result, x.backend.index_dtype), x.backend)


@dim_aliases
def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the first smallest value."""
    xp = x.backend.xp
    data = x.data if x.data.dtype != xp.bool else xp.astype(x.data, xp.int8)
    dims = normalize_dims(dim, x.ndim, "argmin")
    _check_not_empty(x, dims or None, "argmin")
    if not dims:  # all elements: dim is None, or x is 0-d
        result = xp.argmin(xp.reshape(data, (-1,)))
        if keepdim:
            result = xp.reshape(result, (1,) * x.ndim)
    else:
        (axis,) = dims
        result = xp.argmin(data, axis=axis, keepdims=keepdim)
    return Tensor._wrap(xp.astype(result, x.backend.index_dtype), x.backend)


@dim_aliases
def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably.

    NOTE: the maximum is subtracted first (as a constant) so exp never overflows;
    rows that are all -inf give -inf, not NaN.
    """
    from gradflow.ops.elementwise import exp, log

    xp = x.backend.xp
    dims = _dims(dim, x, "logsumexp")
    if dims is None:
        dims = tuple(range(x.ndim))
    top = xp.max(x.data, axis=dims, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    shift = Tensor._wrap(top, x.backend)
    out = log(Sum.apply(exp(x - shift), dims=dims, keepdim=True)) + shift
    if not keepdim:
        from gradflow.ops.shape import reshape

        out = reshape(out, tuple(s for i, s in enumerate(out.shape) if i not in dims))
    return out


@dim_aliases
def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = x.backend.xp
    return Tensor._wrap(xp.all(x.data, axis=_dims(dim, x, "all"), keepdims=keepdim),
                        x.backend)


@dim_aliases
def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    xp = x.backend.xp
    return Tensor._wrap(xp.any(x.data, axis=_dims(dim, x, "any"), keepdims=keepdim),
                        x.backend)


@dim_aliases
def norm(x: Tensor, p: float = 2.0, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The p-norm over `dim` (all elements by default); gradient 0 at a zero input; p=0 counts
    the non-zero elements and p=-inf is the smallest magnitude, as in PyTorch."""
    from gradflow.ops.elementwise import SqrtOfSquares
    from gradflow.ops.elementwise import abs as absolute

    (x,) = autocast_inputs("norm", x)
    if p is None or p == "fro":
        p = 2.0
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not p >= -float("inf"):
        raise ConfigError(f"norm: p must be a number (0, 1, 2, inf, -inf, ...) or 'fro', "
                          f"got {p!r}")
    if dtype is not None:
        x = x.to(dtype)
    elif not x.dtype.is_floating_point:
        x = x.float()
    if p == 0:  # NOTE: a count, constant in x: its gradient is zero (PyTorch's rule)
        return sum((x != 0).to(x.dtype), dim, keepdim)
    if p == -float("inf"):
        return amin(absolute(x), dim, keepdim)
    if p == 2.0:
        return SqrtOfSquares.apply(sum(x * x, dim, keepdim))
    if p == float("inf"):
        return amax(absolute(x), dim, keepdim)
    return sum(absolute(x) ** p, dim, keepdim) ** (1.0 / p)
