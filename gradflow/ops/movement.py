"""Shape ops composed from reshape, permute, broadcast, getitem and cat: flips, rolls,
triangles and diagonals, repeats and tiles, windows, splits and stacks. None needs a
backward rule of its own."""

from __future__ import annotations

import builtins

from gradflow.errors import ConfigError, ShapeError
from gradflow.ops._util import normalize_dim
from gradflow.ops.elementwise import where
from gradflow.ops.linalg import matmul
from gradflow.ops.reduce import sum as total
from gradflow.ops.scatter import index_select
from gradflow.ops.shape import (
    _shape_arg,
    broadcast_to,
    cat,
    getitem,
    permute,
    reshape,
    split,
    transpose,
    unsqueeze,
)
from gradflow.tensor import Tensor


def _dims(dims, ndim: int, op: str) -> tuple[int, ...]:
    if isinstance(dims, int):
        dims = (dims,)
    return tuple(normalize_dim(d, ndim, op) for d in dims)


def flip(x: Tensor, dims) -> Tensor:
    """Reverse the order of elements along `dims`."""
    dims = _dims(dims, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if d in dims else slice(None)
                            for d in range(x.ndim)))


def fliplr(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"fliplr: needs at least 2 dimensions, got shape {x.shape}")
    return flip(x, 1)


def flipud(x: Tensor) -> Tensor:
    if x.ndim < 1:
        raise ShapeError("flipud: needs at least 1 dimension")
    return flip(x, 0)


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """Shift elements along dims, wrapping around (over the flattened tensor without dims)."""
    if dims is None:
        return reshape(roll(reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = _dims(dims, x.ndim, "roll")
    if len(shifts) != len(dims):
        raise ConfigError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    for shift, d in zip(shifts, dims):
        n = x.shape[d]
        if n == 0:
            continue
        k = shift % n
        if k:
            prefix = (slice(None),) * d
            x = cat([getitem(x, (*prefix, slice(n - k, None))),
                     getitem(x, (*prefix, slice(0, n - k)))], d)
    return x


def rot90(x: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees k times, from the first of dims toward the second."""
    d0, d1 = _dims(dims, x.ndim, "rot90")
    if d0 == d1:
        raise ConfigError(f"rot90: dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return flip(transpose(x, d0, d1), d1)
    return x


def _triangle(x: Tensor, diagonal: int, lower: bool, op: str) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs at least 2 dimensions, got shape {x.shape}")
    xp = x.backend.xp
    rows, cols = x.shape[-2:]
    r = xp.arange(rows, device=x.backend.device)[:, None]
    c = xp.arange(cols, device=x.backend.device)[None, :]
    keep = (c - r <= diagonal) if lower else (c - r >= diagonal)
    return where(Tensor._wrap(keep, x.backend), x, 0)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below `diagonal`), zeros elsewhere."""
    return _triangle(x, diagonal, True, "tril")


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above `diagonal`), zeros elsewhere."""
    return _triangle(x, diagonal, False, "triu")


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes, as a new last dimension."""
    d1, d2 = _dims((dim1, dim2), x.ndim, "diagonal")
    if d1 == d2:
        raise ConfigError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = [d for d in range(x.ndim) if d not in (d1, d2)]
    moved = permute(x, (*rest, d1, d2))
    n1, n2 = x.shape[d1], x.shape[d2]
    start1, start2 = builtins.max(-offset, 0), builtins.max(offset, 0)
    length = builtins.max(builtins.min(n1 - start1, n2 - start2), 0)
    xp = x.backend.xp
    dtype = x.backend.index_dtype
    i = Tensor._wrap(xp.arange(start1, start1 + length, dtype=dtype, device=x.backend.device),
                     x.backend)
    j = Tensor._wrap(xp.arange(start2, start2 + length, dtype=dtype, device=x.backend.device),
                     x.backend)
    return getitem(moved, (Ellipsis, i, j))


_diagonal_of = diagonal  # diag's parameter is named diagonal, as in PyTorch


def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Square matrices with the last dimension of x on their `offset` diagonal."""
    n = x.shape[-1]
    m = n + builtins.abs(offset)
    xp = x.backend.xp
    k = xp.arange(n, device=x.backend.device)
    rows = k + builtins.max(-offset, 0)
    cols = k + builtins.max(offset, 0)
    target = xp.reshape(rows * m + cols, (n, 1))
    one_hot = xp.astype(target == xp.arange(m * m, device=x.backend.device)[None, :], x.data.dtype)
    out = matmul(x, Tensor._wrap(one_hot, x.backend))  # one nonzero term per element: exact
    out = reshape(out, (*x.shape[:-1], m, m))
    ndim = out.ndim
    d1, d2 = normalize_dim(dim1, ndim, "diag_embed"), normalize_dim(dim2, ndim, "diag_embed")
    if (d1, d2) == (ndim - 2, ndim - 1):
        return out
    rest = iter(range(ndim - 2))
    order = [0] * ndim
    for d in range(ndim):
        order[d] = ndim - 2 if d == d1 else ndim - 1 if d == d2 else next(rest)
    return permute(out, tuple(order))


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-d x as a square matrix with x on its diagonal; a 2-d x's diagonal as 1-d."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return _diagonal_of(x, diagonal)
    raise ShapeError(f"diag: expects a 1-d or 2-d tensor, got shape {x.shape}")


def trace(x: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise ShapeError(f"trace: expects a matrix, got shape {x.shape}")
    return total(diagonal(x))


def repeat(x: Tensor, *sizes) -> Tensor:
    """Tile x: sizes[i] copies along dimension i (extra leading sizes add dimensions)."""
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} sizes for a tensor of {x.ndim} dimensions")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    interleaved = []
    for s in shape:
        interleaved += [1, s]
    grown = reshape(x, tuple(interleaved))
    target = []
    for r, s in zip(sizes, shape):
        target += [r, s]
    return reshape(broadcast_to(grown, tuple(target)),
                   tuple(r * s for r, s in zip(sizes, shape)))


def tile(x: Tensor, dims) -> Tensor:
    """NumPy's tile: like repeat, with missing leading sizes taken as 1."""
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def repeat_interleave(x: Tensor, repeats, dim: int | None = None) -> Tensor:
    """Each element (or slice along dim) repeated `repeats` times in place."""
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    dim = normalize_dim(dim, x.ndim, "repeat_interleave")
    if isinstance(repeats, int):
        grown = unsqueeze(x, dim + 1)
        shape = list(grown.shape)
        shape[dim + 1] = repeats
        out_shape = list(x.shape)
        out_shape[dim] *= repeats
        return reshape(broadcast_to(grown, tuple(shape)), tuple(out_shape))
    xp = x.backend.xp
    counts = repeats.data if isinstance(repeats, Tensor) else xp.asarray(
        repeats, device=x.backend.device)
    counts = xp.reshape(counts, (-1,))
    if counts.shape[0] == 1:
        counts = xp.broadcast_to(counts, (x.shape[dim],))
    index = xp.repeat(xp.arange(x.shape[dim], dtype=x.backend.index_dtype,
                                device=x.backend.device), counts)
    return index_select(x, dim, Tensor._wrap(index, x.backend))


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Windows of `size` every `step` along `dimension`, as a new last dimension."""
    d = normalize_dim(dimension, x.ndim, "unfold")
    n = x.shape[d] if x.ndim else 1
    if size > n or step <= 0:
        raise ShapeError(f"unfold: windows of {size} every {step} do not fit {n} elements")
    xp = x.backend.xp
    dtype = x.backend.index_dtype
    starts = xp.arange(0, n - size + 1, step, dtype=dtype, device=x.backend.device)
    index = starts[:, None] + xp.arange(size, dtype=dtype, device=x.backend.device)[None, :]
    moved = movedim(x, d, -1)
    windows = getitem(moved, (Ellipsis, Tensor._wrap(index, x.backend)))
    return movedim(windows, -2, d)


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Split dimension dim into `sizes` (one may be -1)."""
    d = normalize_dim(dim, x.ndim, "unflatten")
    return reshape(x, (*x.shape[:d], *sizes, *x.shape[d + 1:]))


def movedim(x: Tensor, source, destination) -> Tensor:
    """Move dimensions to new positions, keeping the others in order."""
    src = _dims(source, x.ndim, "movedim")
    dst = _dims(destination, x.ndim, "movedim")
    if len(src) != len(dst):
        raise ConfigError(f"movedim: {len(src)} sources for {len(dst)} destinations")
    placed: list[int | None] = [None] * x.ndim
    for s, t in zip(src, dst):
        placed[t] = s
    rest = iter(d for d in range(x.ndim) if d not in src)
    order = tuple(o if o is not None else next(rest) for o in placed)
    return x if order == tuple(range(x.ndim)) else permute(x, order)


def moveaxis(x: Tensor, source, destination) -> Tensor:
    return movedim(x, source, destination)


def t(x: Tensor) -> Tensor:
    """The transpose of a matrix (a vector or scalar as it is)."""
    if x.ndim > 2:
        raise ShapeError(f"t: expects at most 2 dimensions, got shape {x.shape}; use "
                         "transpose(x, dim0, dim1) or x.mT")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    return transpose(x, axis0, axis1)


def swapdims(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return transpose(x, dim0, dim1)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """length elements from start along dim (a view)."""
    d = normalize_dim(dim, x.ndim, "narrow")
    n = x.shape[d]
    start = start + n if start < 0 else start
    if not (0 <= start and start + length <= n and length >= 0):
        raise ShapeError(f"narrow: [{start}, {start + length}) is outside [0, {n}) "
                         f"(dimension {d} of {x.shape})")
    return getitem(x, (*(slice(None),) * d, slice(start, start + length)))


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """n nearly equal parts (the first n % size one larger), or parts between indices."""
    d = normalize_dim(dim, x.ndim, "tensor_split")
    size = x.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise ConfigError(f"tensor_split: the number of sections must be positive, got {n}")
        sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
    else:
        bounds = [0] + [builtins.min(builtins.max(i + size if i < 0 else i, 0), size)
                        for i in indices_or_sections] + [size]
        sizes = [builtins.max(b - a, 0) for a, b in zip(bounds, bounds[1:])]
        starts = bounds[:-1]
        prefix = (slice(None),) * d
        return tuple(getitem(x, (*prefix, slice(s, s + n))) for s, n in zip(starts, sizes))
    return split(x, sizes, d)


def atleast_1d(*tensors):
    out = [t if t.ndim >= 1 else reshape(t, (1,)) for t in _tensors(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_2d(*tensors):
    out = []
    for t in _tensors(tensors):
        out.append(t if t.ndim >= 2 else reshape(t, (1, *t.shape) if t.ndim else (1, 1)))
    return out[0] if len(out) == 1 else tuple(out)


def atleast_3d(*tensors):
    out = []
    for t in _tensors(tensors):
        if t.ndim == 0:
            t = reshape(t, (1, 1, 1))
        elif t.ndim == 1:
            t = reshape(t, (1, t.shape[0], 1))
        elif t.ndim == 2:
            t = reshape(t, (*t.shape, 1))
        out.append(t)
    return out[0] if len(out) == 1 else tuple(out)


def _tensors(tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return list(tensors[0])
    return list(tensors)


def hstack(tensors) -> Tensor:
    """Join along the second dimension (the first for 1-d tensors)."""
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Join along the first dimension, 1-d tensors as rows."""
    return cat([atleast_2d(t) for t in tensors], 0)


def dstack(tensors) -> Tensor:
    """Join along the third dimension."""
    return cat([atleast_3d(t) for t in tensors], 2)


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-d tensors ("ij": matrix indexing, "xy": Cartesian)."""
    tensors = _tensors(tensors)
    if indexing not in ("ij", "xy"):
        raise ConfigError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    sizes = [t.numel() for t in tensors]
    if indexing == "xy" and len(tensors) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for i, t in enumerate(tensors):
        axis = i
        if indexing == "xy" and len(tensors) >= 2 and i < 2:
            axis = 1 - i
        shape = [1] * len(tensors)
        shape[axis] = t.numel()
        grids.append(broadcast_to(reshape(t, tuple(shape)), tuple(sizes)))
    return tuple(grids)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return broadcast_to(x, other.shape)


def view_as(x: Tensor, other: Tensor) -> Tensor:
    return reshape(x, other.shape)


def reshape_as(x: Tensor, other: Tensor) -> Tensor:
    return reshape(x, other.shape)
