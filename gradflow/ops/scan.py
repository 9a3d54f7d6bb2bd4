"""Scans (cumulative sums, products, extremes) and the reductions built on them or on
the primitives of ops/reduce.py: prod, std_mean, var_mean, nansum, nanmean,
count_nonzero, aminmax."""

from __future__ import annotations

from collections import namedtuple

from gradflow.autograd.function import Function
from gradflow.ops._util import normalize_dim
from gradflow.ops.elementwise import exp, log, where
from gradflow.ops.movement import flip
from gradflow.ops.reduce import _dims, amax, amin, dim_aliases, mean, std, sum, var
from gradflow.ops.scatter import take_along_dim
from gradflow.ops.shape import getitem, reshape, squeeze, stack
from gradflow.tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
MinMax = namedtuple("MinMax", ["min", "max"])


def _scan_input(x: Tensor, dim, dtype, op: str):
    if dtype is not None:
        x = x.to(dtype)
    elif not x.dtype.is_floating_point:
        x = x.long()  # integer scans accumulate in int64 (PyTorch)
    if x.ndim == 0:
        return reshape(x, (1,)), 0, True
    return x, normalize_dim(dim, x.ndim, op), False


class CumSum(Function):
    params = ("dim",)

    def forward(self, x):
        return self.backend.xp.cumulative_sum(x, axis=self.dim)

    def backward(self, grad):
        # each input reaches every later output: the reversed cumulative sum of the gradient
        return flip(CumSum.apply(flip(grad, self.dim), dim=self.dim), self.dim)


def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sums along dim."""
    x, dim, scalar = _scan_input(x, dim, dtype, "cumsum")
    out = CumSum.apply(x, dim=dim)
    return reshape(out, ()) if scalar else out


class CumProd(Function):
    params = ("dim",)
    grad_reads = ((0,),)
    saves_output = True

    def forward(self, x):
        return self.backend.xp.cumulative_prod(x, axis=self.dim)

    def backward(self, grad):
        x = self.inputs[0]
        xp = self.backend.xp
        if not bool(xp.any(x.data == 0)):
            out = self.output
            return flip(cumsum(flip(grad * out, self.dim), self.dim), self.dim) / x
        return _cumprod_grad_with_zeros(x, grad, self.dim)


def _cumprod_grad_with_zeros(x: Tensor, grad: Tensor, dim: int) -> Tensor:
    """d/dx_i of sum_j grad_j * prod_{k<=j} x_k without dividing by x_i: for each i, the
    running product with x_i replaced by 1 (n scans; used only when x holds a zero)."""
    xp = x.backend.xp
    n = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = n
    position = xp.reshape(xp.arange(n, device=x.backend.device), tuple(shape))
    pieces = []
    for i in range(n):
        at_i = Tensor._wrap(position == i, x.backend)
        later = Tensor._wrap(position >= i, x.backend)
        products = cumprod(where(at_i, 1.0, x), dim)
        pieces.append(sum(where(later, grad * products, 0.0), dim))
    return stack(pieces, dim)


def cumprod(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running products along dim (gradients exact where x has zeros)."""
    x, dim, scalar = _scan_input(x, dim, dtype, "cumprod")
    out = CumProd.apply(x, dim=dim)
    return reshape(out, ()) if scalar else out


@dim_aliases
def prod(x: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The product over dim (all elements by default): the last running product."""
    if dim is None:
        flat = reshape(x, (-1,))
        if flat.shape[0] == 0:
            from gradflow.creation import ones

            return ones((), dtype=x.dtype if x.dtype.is_floating_point else None,
                        device=x.backend)
        out = getitem(cumprod(flat, 0, dtype=dtype), -1)
        return reshape(out, (1,) * x.ndim) if keepdim else out
    x, d, scalar = _scan_input(x, dim, dtype, "prod")
    last = (*(slice(None),) * d, slice(-1, None))
    out = getitem(cumprod(x, d), last)
    if scalar:
        return reshape(out, ())
    return out if keepdim else squeeze(out, d)


def _running_extreme(x: Tensor, dim: int, largest: bool):
    """Indices of the running maximum (minimum), the last one at ties (PyTorch)."""
    xp = x.backend.xp
    n = x.shape[dim]
    data = x.data if x.data.dtype != xp.bool else xp.astype(x.data, xp.int8)
    shape = [1] * x.ndim
    shape[dim] = n
    dtype = x.backend.index_dtype
    position = xp.reshape(xp.arange(n, dtype=dtype, device=x.backend.device), tuple(shape))
    best = data
    index = xp.broadcast_to(position, data.shape)
    step = 1
    while step < n:  # Hillis-Steele doubling: log2(n) rounds of shifted comparisons
        key = (slice(None),) * dim
        earlier_best = xp.concat([best[(*key, slice(0, step))], best[(*key, slice(0, n - step))]],
                                 axis=dim)
        earlier_index = xp.concat([index[(*key, slice(0, step))],
                                   index[(*key, slice(0, n - step))]], axis=dim)
        valid = position >= step
        wins = (earlier_best > best) if largest else (earlier_best < best)
        better = valid & (wins | ((earlier_best == best) & (earlier_index > index)))
        nan_earlier = valid & (earlier_best != earlier_best) & (best == best)
        better = better | nan_earlier
        best = xp.where(better, earlier_best, best)
        index = xp.where(better, earlier_index, index)
        step *= 2
    return Tensor._wrap(index, x.backend)


def _cum_extreme(x: Tensor, dim: int, largest: bool, op: str):
    if x.ndim == 0:
        return ValuesIndices(x, Tensor._wrap(
            x.backend.xp.zeros((), dtype=x.backend.index_dtype, device=x.backend.device),
            x.backend))
    dim = normalize_dim(dim, x.ndim, op)
    indices = _running_extreme(x, dim, largest)
    return ValuesIndices(take_along_dim(x, indices, dim), indices)


def cummax(x: Tensor, dim: int):
    """(running maxima, their indices) along dim."""
    return _cum_extreme(x, dim, True, "cummax")


def cummin(x: Tensor, dim: int):
    """(running minima, their indices) along dim."""
    return _cum_extreme(x, dim, False, "cummin")


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along dim, shifted by the maximum so that exp cannot overflow."""
    if x.ndim == 0:
        return x
    d = normalize_dim(dim, x.ndim, "logcumsumexp")
    xp = x.backend.xp
    top = xp.max(x.data, axis=d, keepdims=True)
    top = xp.where(xp.isfinite(top), top, xp.zeros_like(top))
    shift = Tensor._wrap(top, x.backend)
    return log(cumsum(exp(x - shift), d)) + shift


@dim_aliases
def var_mean(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
             unbiased: bool | None = None):
    """(var, mean) in one call."""
    return (var(x, dim, keepdim, correction=correction, unbiased=unbiased),
            mean(x, dim, keepdim))


@dim_aliases
def std_mean(x: Tensor, dim=None, keepdim: bool = False, *, correction: int = 1,
             unbiased: bool | None = None):
    """(std, mean) in one call."""
    return (std(x, dim, keepdim, correction=correction, unbiased=unbiased),
            mean(x, dim, keepdim))


def _not_nan(x: Tensor) -> Tensor:
    return Tensor._wrap(x.data == x.data, x.backend)


@dim_aliases
def nansum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The sum with NaNs counted as zero."""
    if x.dtype.is_floating_point:
        x = where(_not_nan(x), x, 0.0)
    return sum(x, dim, keepdim, dtype=dtype)


@dim_aliases
def nanmean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean of the non-NaN elements."""
    if dtype is not None:
        x = x.to(dtype)
    count = sum(_not_nan(x), dim, keepdim)
    return nansum(x, dim, keepdim) / count


@dim_aliases
def count_nonzero(x: Tensor, dim=None) -> Tensor:
    """How many elements are not zero (int64)."""
    xp = x.backend.xp
    nonzero = x.data != 0 if x.data.dtype != xp.bool else x.data
    dims = _dims(dim, x, "count_nonzero")
    return Tensor._wrap(xp.sum(xp.astype(nonzero, x.backend.index_dtype), axis=dims), x.backend)


@dim_aliases
def aminmax(x: Tensor, *, dim: int | None = None, keepdim: bool = False):
    """(min, max) in one call."""
    return MinMax(amin(x, dim, keepdim), amax(x, dim, keepdim))
