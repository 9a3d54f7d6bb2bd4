"""Sorting and selection: sort, argsort, topk, kthvalue, median, unique, nonzero.

The order is found on arrays (not differentiable); values are then gathered with
take_along_dim, so their gradient flows back to the elements chosen.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Literal, overload

from gradflow.errors import ConfigError, ShapeError
from gradflow.ops._util import normalize_dim
from gradflow.ops.reduce import dim_aliases
from gradflow.ops.scatter import take_along_dim
from gradflow.ops.shape import getitem, reshape, squeeze
from gradflow.tensor import Tensor

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _order(x: Tensor, dim: int, descending: bool) -> Tensor:
    xp = x.backend.xp
    data = x.data if x.data.dtype != xp.bool else xp.astype(x.data, xp.int8)
    if x.ndim == 0:
        return Tensor._wrap(xp.zeros((), dtype=x.backend.index_dtype, device=x.backend.device),
                            x.backend)
    # NOTE: stable in both directions, so ties keep their order and every device agrees
    order = xp.argsort(data, axis=dim, descending=descending, stable=True)
    return Tensor._wrap(xp.astype(order, x.backend.index_dtype), x.backend)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """(values, indices) sorted along dim; ties keep their order (always stable)."""
    if x.ndim == 0:
        return ValuesIndices(x, _order(x, 0, descending))
    dim = normalize_dim(dim, x.ndim, "sort")
    indices = _order(x, dim, descending)
    return ValuesIndices(take_along_dim(x, indices, dim), indices)


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort x along dim."""
    if x.ndim == 0:
        return _order(x, 0, descending)
    return _order(x, normalize_dim(dim, x.ndim, "argsort"), descending)


def msort(x: Tensor) -> Tensor:
    """x sorted along its first dimension."""
    return sort(x, 0).values


def _pick(x: Tensor, dim: int, start: int, stop: int, descending: bool):
    values, indices = sort(x, dim, descending)
    key = (*(slice(None),) * dim, slice(start, stop))
    return getitem(values, key), getitem(indices, key)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The k largest (or smallest) values along dim, in order, and their indices."""
    dim = normalize_dim(dim, x.ndim, "topk")
    n = x.shape[dim] if x.ndim else 1
    if not 0 <= k <= n:
        raise ShapeError(f"topk: k={k} is out of range for dimension {dim} of size {n}")
    return ValuesIndices(*_pick(x, dim, 0, k, largest))


def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The k-th smallest value along dim (k counts from 1) and its index."""
    dim = normalize_dim(dim, x.ndim, "kthvalue")
    n = x.shape[dim] if x.ndim else 1
    if not 1 <= k <= n:
        raise ShapeError(f"kthvalue: k={k} is out of range for dimension {dim} of size {n}")
    values, indices = _pick(x, dim, k - 1, k, False)
    if not keepdim and x.ndim:
        values, indices = squeeze(values, dim), squeeze(indices, dim)
    return ValuesIndices(values, indices)


@dim_aliases
def median(x: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median (the smaller middle value for an even count, as PyTorch); with dim,
    (values, indices)."""
    if dim is None:
        flat = reshape(x, (-1,))
        if flat.shape[0] == 0:
            raise ShapeError("median: the tensor is empty")
        return kthvalue(flat, (flat.shape[0] + 1) // 2, 0).values
    dim = normalize_dim(dim, x.ndim, "median")
    n = x.shape[dim] if x.ndim else 1
    return kthvalue(x, (n + 1) // 2, dim, keepdim)


def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None):
    """The distinct values in ascending order, optionally with the inverse indices (shape of
    x) and the counts. Not differentiable."""
    if dim is not None:
        raise ConfigError("unique: dim= is not supported; gradflow finds unique elements only")
    xp = x.backend.xp
    values, _, inverse, counts = xp.unique_all(xp.reshape(x.data, (-1,)))
    order = xp.argsort(values, stable=True)
    rank = xp.argsort(order, stable=True)
    wrap = lambda a: Tensor._wrap(a, x.backend)  # noqa: E731
    out = [wrap(xp.take(values, order))]
    if return_inverse:
        inverse = xp.take(rank, xp.reshape(inverse, (-1,)))
        out.append(wrap(xp.astype(xp.reshape(inverse, x.shape), x.backend.index_dtype)))
    if return_counts:
        out.append(wrap(xp.astype(xp.take(counts, order), x.backend.index_dtype)))
    return out[0] if len(out) == 1 else tuple(out)


@overload
def nonzero(x: Tensor, *, as_tuple: Literal[False] = False) -> Tensor: ...
@overload
def nonzero(x: Tensor, *, as_tuple: Literal[True]) -> tuple[Tensor, ...]: ...
@overload
def nonzero(x: Tensor, *, as_tuple: bool) -> Tensor | tuple[Tensor, ...]: ...
def nonzero(x: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """Indices of the nonzero elements: an (n, ndim) tensor, or one 1-d tensor per dim."""
    xp = x.backend.xp
    data = x.data if x.ndim else xp.reshape(x.data, (1,))
    found = [xp.astype(c, x.backend.index_dtype) for c in xp.nonzero(data)]
    if as_tuple:
        return tuple(Tensor._wrap(c, x.backend) for c in found)
    if x.ndim == 0:
        return Tensor._wrap(xp.zeros((found[0].shape[0], 0), dtype=x.backend.index_dtype,
                                     device=x.backend.device), x.backend)
    return Tensor._wrap(xp.stack(found, axis=1), x.backend)


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)
