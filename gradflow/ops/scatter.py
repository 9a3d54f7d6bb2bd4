"""Gather and scatter: reading and writing elements at index tensors along a dimension.

Everything is lowered to flat element positions (`positions_along`) and two primitives of
ops/shape.py, Take (a gather) and IndexAdd (a deterministic scatter-add): no atomics, the
same sums in the same order on every device, and gradients of any order.
"""

from __future__ import annotations

import builtins

from gradflow.autograd.function import mismatch_error
from gradflow.errors import ConfigError, IndexingError, ShapeError
from gradflow.ops._util import broadcast_shapes, normalize_dim
from gradflow.ops.cast import cast
from gradflow.ops.elementwise import _tensorize, maximum, minimum, mul, where
from gradflow.ops.shape import IndexAdd, Take, broadcast_to, getitem, reshape, write_flat
from gradflow.tensor import Tensor


def _index(index, x: Tensor, op: str):
    if not isinstance(index, Tensor):
        from gradflow.creation import tensor

        index = tensor(index, device=x.backend)
        if index.numel() == 0:
            index = index.long()
    if index.dtype.is_floating_point or index.dtype.name == "bool":
        raise IndexingError(f"{op}: the index must be an integer tensor, not {index.dtype.name}")
    if index.backend is not x.backend:
        raise mismatch_error(op, (x, index))
    return index


def positions_along(x_shape, dim: int, index: Tensor, op: str):
    """Flat positions in an array of `x_shape` of the elements index picks along `dim`:
    element i of index addresses x[i_0, ..., index[i], ..., i_n] (gather's rule)."""
    xp = index.backend.xp
    if index.ndim != len(x_shape):
        raise ShapeError(f"{op}: the index has {index.ndim} dimensions, the tensor of shape "
                         f"{tuple(x_shape)} has {len(x_shape)}")
    for d, (i, s) in enumerate(zip(index.shape, x_shape)):
        if d != dim and i > s:
            raise ShapeError(f"{op}: index of shape {index.shape} is larger than {tuple(x_shape)} "
                             f"in dimension {d}")
    size = x_shape[dim]
    data = index.data
    if data.size and builtins.bool(xp.any((data < -size) | (data >= size))):
        raise IndexingError(f"{op}: index out of range for dimension {dim} of size {size}")
    dtype = index.backend.index_dtype
    data = xp.astype(xp.where(data < 0, data + size, data), dtype)
    flat = xp.zeros(index.shape, dtype=dtype, device=index.backend.device)
    stride = 1
    for d in reversed(range(len(x_shape))):
        if d == dim:
            coord = data
        else:
            shape = [1] * len(x_shape)
            shape[d] = index.shape[d]
            coord = xp.reshape(xp.arange(index.shape[d], dtype=dtype, device=index.backend.device),
                               tuple(shape))
        flat = flat + coord * stride
        stride *= x_shape[d]
    return Tensor._wrap(flat, index.backend)


def _flat_take(x: Tensor, positions: Tensor) -> Tensor:
    return Take.apply(reshape(x, (-1,)), positions, lead=1)


def gather(x: Tensor, dim: int, index) -> Tensor:
    """out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 (and so on): PyTorch's gather."""
    dim = normalize_dim(dim, x.ndim, "gather")
    index = _index(index, x, "gather")
    return _flat_take(x, positions_along(x.shape, dim, index, "gather"))


def take_along_dim(x: Tensor, indices, dim: int | None = None) -> Tensor:
    """Values of x at `indices` along `dim` (x and indices broadcast in the other dims);
    over the flattened tensor when dim is None."""
    indices = _index(indices, x, "take_along_dim")
    if dim is None:
        return _flat_take(x, reshape(indices, (-1,)))
    dim = normalize_dim(dim, x.ndim, "take_along_dim")
    shape_x = list(x.shape)
    shape_i = list(indices.shape)
    for d in range(x.ndim):
        if d != dim:
            size = builtins.max(shape_x[d], shape_i[d])
            shape_x[d] = shape_i[d] = size
    x = broadcast_to(x, tuple(shape_x))
    indices = broadcast_to(indices, tuple(shape_i))
    return gather(x, dim, indices)


def take(x: Tensor, index) -> Tensor:
    """x as a 1-d tensor, at `index` (any shape)."""
    index = _index(index, x, "take")
    return getitem(reshape(x, (-1,)), index)


def _source(src, like: Tensor, shape) -> Tensor:
    src = _tensorize(src, like, like.dtype)
    if src.ndim == 0:
        return broadcast_to(src, shape)
    if src.shape != tuple(shape):  # PyTorch reads the leading block of a larger src
        key = tuple(slice(0, s) for s in shape)
        src = getitem(src, key)
    return src


def _written(x: Tensor, dim: int, index: Tensor, src, op: str, accumulate: bool) -> Tensor:
    positions = positions_along(x.shape, dim, index, op)
    src = _source(src, x, index.shape)
    flat = write_flat(reshape(x, (-1,)), reshape(positions, (-1,)), reshape(src, (-1,)),
                      accumulate)
    return reshape(flat, x.shape)


def scatter(x: Tensor, dim: int, index, src=None, *, value=None, reduce: str | None = None):
    """x with src (or the scalar value) written at index along dim (PyTorch's scatter); where
    an index repeats, the value written last wins. reduce="add"/"multiply" as scatter_reduce."""
    if src is None:
        src = value
    if src is None:
        raise ConfigError("scatter: give src or value")
    dim = normalize_dim(dim, x.ndim, "scatter")
    index = _index(index, x, "scatter")
    if reduce is not None:
        names = {"add": "sum", "multiply": "prod"}
        if reduce not in names:
            raise ConfigError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        return scatter_reduce(x, dim, index, _source(src, x, index.shape), names[reduce])
    return _written(x, dim, index, src, "scatter", accumulate=False)


def scatter_add(x: Tensor, dim: int, index, src) -> Tensor:
    """x plus src added at index along dim; repeated indices add up, in order."""
    dim = normalize_dim(dim, x.ndim, "scatter_add")
    index = _index(index, x, "scatter_add")
    return _written(x, dim, index, src, "scatter_add", accumulate=True)


def scatter_reduce(x: Tensor, dim: int, index, src, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Reduce the src values that land on each position ("sum", "prod", "mean", "amax",
    "amin"), with x's own value too when include_self; positions no index hits keep x."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ConfigError(f"scatter_reduce: reduce must be one of sum, prod, mean, amax, amin; "
                          f"got {reduce!r}")
    dim = normalize_dim(dim, x.ndim, "scatter_reduce")
    index = _index(index, x, "scatter_reduce")
    xp = x.backend.xp
    n = x.numel()
    positions = reshape(positions_along(x.shape, dim, index, "scatter_reduce"), (-1,))
    values = reshape(_source(src, x, index.shape), (-1,))
    flat_x = reshape(x, (-1,))
    ones = xp.ones(positions.shape, dtype=x.backend.index_dtype, device=x.backend.device)
    counts = x.backend.scatter_add_rows(ones, positions.data, n)
    hit = Tensor._wrap(counts > 0, x.backend)
    if reduce in ("sum", "mean"):
        total = IndexAdd.apply(values, positions, shape=(n,), lead=1)
        if include_self:
            total = total + flat_x
        out = total
        if reduce == "mean":
            count = counts + (1 if include_self else 0)
            count = xp.where(count == 0, xp.ones_like(count), count)
            count = Tensor._wrap(xp.astype(count, x.data.dtype), x.backend)
            out = total / count if x.dtype.is_floating_point else total // count
    else:
        out = _reduce_in_rounds(flat_x, positions, values, reduce, include_self, hit)
    return reshape(where(hit, out, flat_x), x.shape)


def _reduce_in_rounds(flat_x, positions, values, reduce, include_self, hit):
    """prod/amax/amin per position: round r combines the r-th value landing on each
    position, so no round writes a position twice (deterministic, differentiable)."""
    xp = flat_x.backend.xp
    combine = {"prod": mul, "amax": maximum, "amin": minimum}[reduce]
    if include_self:
        acc = flat_x
    else:
        identity = {"prod": 1, "amax": float("-inf"), "amin": float("inf")}[reduce]
        if not flat_x.dtype.is_floating_point and reduce != "prod":
            info = xp.iinfo(flat_x.data.dtype)
            identity = info.min if reduce == "amax" else info.max
        acc = where(hit, _tensorize(identity, flat_x, flat_x.dtype), flat_x)
    rank = _occurrence_rank(xp, positions.data)
    rounds = int(xp.max(rank)) + 1 if rank.shape[0] else 0
    for r in range(rounds):
        (rows,) = xp.nonzero(rank == r)
        rows = Tensor._wrap(xp.astype(rows, flat_x.backend.index_dtype), flat_x.backend)
        chosen_pos = Take.apply(positions, rows, lead=1)
        chosen = Take.apply(values, rows, lead=1)
        landed = write_flat(acc, chosen_pos, combine(Take.apply(acc, chosen_pos, lead=1), chosen),
                            False)
        acc = landed
    return acc


def _occurrence_rank(xp, positions):
    """For each element, how many earlier elements share its position."""
    n = positions.shape[0]
    if n == 0:
        return positions
    order = xp.argsort(positions, stable=True)
    ordered = xp.take(positions, order)
    index = xp.arange(n, dtype=positions.dtype, device=positions.device)
    start = xp.concat([xp.ones((1,), dtype=xp.bool, device=positions.device),
                       ordered[1:] != ordered[:-1]])
    group = xp.cumulative_sum(xp.astype(start, positions.dtype)) - 1
    first = xp.take(index[start], group)
    return xp.take(index - first, xp.argsort(order, stable=True))


def _expanded_index(x: Tensor, dim: int, index: Tensor, op: str) -> Tensor:
    """A 1-d index along dim as a full index of x's shape with that dim of len(index)."""
    if index.ndim > 1:
        raise ShapeError(f"{op}: the index must be 0-d or 1-d, got shape {index.shape}")
    index = reshape(index, (-1,))
    shape = [1] * x.ndim
    shape[dim] = index.shape[0]
    target = list(x.shape)
    target[dim] = index.shape[0]
    return broadcast_to(reshape(index, tuple(shape)), tuple(target))


def index_select(x: Tensor, dim: int, index) -> Tensor:
    """The slices of x at `index` (1-d) along dim."""
    dim = normalize_dim(dim, x.ndim, "index_select")
    index = _index(index, x, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: the index must be 1-d, got shape {index.shape}")
    return getitem(x, (*(slice(None),) * dim, reshape(index, (-1,))))


def index_add(x: Tensor, dim: int, index, source, *, alpha=1) -> Tensor:
    """x with alpha * source[i] added to the slice index[i] along dim; repeats add up."""
    dim = normalize_dim(dim, x.ndim, "index_add")
    index = _expanded_index(x, dim, _index(index, x, "index_add"), "index_add")
    if alpha != 1:
        source = source * alpha
    return _written(x, dim, index, source, "index_add", accumulate=True)


def index_copy(x: Tensor, dim: int, index, source) -> Tensor:
    """x with source[i] written at the slice index[i] along dim."""
    dim = normalize_dim(dim, x.ndim, "index_copy")
    index = _expanded_index(x, dim, _index(index, x, "index_copy"), "index_copy")
    return _written(x, dim, index, source, "index_copy", accumulate=False)


def index_fill(x: Tensor, dim: int, index, value) -> Tensor:
    """x with the slices at index along dim set to value."""
    dim = normalize_dim(dim, x.ndim, "index_fill")
    index = _expanded_index(x, dim, _index(index, x, "index_fill"), "index_fill")
    return _written(x, dim, index, value, "index_fill", accumulate=False)


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """x with value where mask is True (mask broadcasts to x)."""
    mask = _tensorize(mask, x)
    if mask.dtype.name != "bool":
        raise IndexingError(f"masked_fill: the mask must be bool, not {mask.dtype.name}")
    value = _tensorize(value, x, x.dtype)
    out = where(mask, value, x)
    return out if out.shape == x.shape else broadcast_to(out, x.shape)


def masked_select(x: Tensor, mask) -> Tensor:
    """The elements of x where mask is True, as a 1-d tensor (x and mask broadcast)."""
    mask = _tensorize(mask, x)
    shape = broadcast_shapes("masked_select", x.shape, mask.shape)
    return getitem(broadcast_to(x, shape), broadcast_to(mask, shape))


def masked_scatter(x: Tensor, mask, source: Tensor) -> Tensor:
    """x with the first k elements of source (in order) written where the k True elements of
    mask are."""
    mask = broadcast_to(_tensorize(mask, x), x.shape)
    xp = x.backend.xp
    (positions,) = xp.nonzero(xp.reshape(mask.data, (-1,)))
    count = positions.shape[0]
    if source.numel() < count:
        raise ShapeError(f"masked_scatter: the mask selects {count} elements, source has "
                         f"only {source.numel()}")
    values = getitem(reshape(source, (-1,)), slice(0, count))
    if values.dtype is not x.dtype:
        values = cast(values, x.dtype)
    positions = Tensor._wrap(xp.astype(positions, x.backend.index_dtype), x.backend)
    flat = write_flat(reshape(x, (-1,)), positions, values, accumulate=False)
    return reshape(flat, x.shape)
