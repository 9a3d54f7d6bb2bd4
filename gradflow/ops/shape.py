"""Movement and indexing: reshape, permute, broadcast, getitem, setitem, cat, pad."""

from __future__ import annotations

import builtins

from gradflow.autograd.function import Function
from gradflow.autograd.sum_to import BroadcastTo
from gradflow.errors import ConfigError, IndexingError, ShapeError
from gradflow.ops._util import broadcast_shapes, normalize_dim
from gradflow.tensor import Tensor


class Reshape(Function):
    params = ("shape",)
    saved = ("in_shape",)
    is_view = True

    def forward(self, x):
        self.in_shape = tuple(x.shape)
        return self.backend.xp.reshape(x, self.shape)

    def backward(self, grad):
        return reshape(grad, self.in_shape)

    def unview(self, base, value):
        return reshape(value, self.in_shape)


class Permute(Function):
    params = ("dims",)
    is_view = True

    def forward(self, x):
        return self.backend.xp.permute_dims(x, self.dims)

    def backward(self, grad):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return permute(grad, tuple(inverse))

    def unview(self, base, value):
        return self.backward(value)


class GetItem(Function):
    """Basic indexing: ints, slices, None and Ellipsis."""

    params = ("key",)
    saved = ("in_shape",)
    is_view = True

    def forward(self, x):
        self.in_shape = tuple(x.shape)
        return x[self.key]

    def backward(self, grad):
        return PutBasic.apply(grad, key=self.key, shape=self.in_shape)

    def unview(self, base, value):
        return IndexPut.apply(base, value, key=self.key)


class PutBasic(Function):
    """Zeros of `shape` with the gradient written at `key` (GetItem's backward)."""

    params = ("key", "shape")

    def forward(self, grad):
        out = self.backend.xp.zeros(self.shape, dtype=grad.dtype, device=self.backend.device)
        out[self.key] = grad
        return out

    def backward(self, grad):
        return GetItem.apply(grad, key=self.key)


class Take(Function):
    """Rows of x (flattened over its first `lead` dims) at a flat index; advanced indexing."""

    params = ("lead",)
    saved = ("in_shape",)
    grad_reads = ((1,), ())  # x's gradient reads the index

    def forward(self, x, index):
        xp = self.backend.xp
        self.in_shape = tuple(x.shape)
        rows = xp.reshape(x, (-1, *x.shape[self.lead:]))
        out = xp.take(rows, xp.reshape(index, (-1,)), axis=0)
        return xp.reshape(out, (*index.shape, *x.shape[self.lead:]))

    def backward(self, grad):
        return IndexAdd.apply(grad, self.inputs[1], shape=self.in_shape, lead=self.lead), None


class IndexAdd(Function):
    """Scatter-add of rows into zeros of `shape` (Take's backward); deterministic."""

    params = ("shape", "lead")
    grad_reads = ((1,), ())  # grad's gradient reads the index

    def forward(self, grad, index):
        rest = self.shape[self.lead:]
        size = 1
        for s in self.shape[:self.lead]:
            size *= s
        xp = self.backend.xp
        flat_index = xp.reshape(index, (-1,))
        values = xp.reshape(grad, (flat_index.shape[0], *rest))
        out = self.backend.scatter_add_rows(values, flat_index, size)
        return xp.reshape(out, self.shape)

    def backward(self, grad):
        return Take.apply(grad, self.inputs[1], lead=self.lead), None


class IndexPut(Function):
    """x with `value` written at `key` (basic key or boolean mask): out-of-place setitem."""

    params = ("key",)

    def forward(self, x, value):
        out = self.backend.xp.asarray(x, copy=True)
        out[self.key] = value
        return out

    def backward(self, grad):
        needs = self.needs_input_grad
        grad_x = IndexPut.apply(grad, 0.0, key=self.key) if needs[0] else None
        grad_value = GetItem.apply(grad, key=self.key) if needs[1] else None
        return grad_x, grad_value


class Cat(Function):
    params = ("dim",)
    saved = ("sizes",)

    def forward(self, *arrays):
        self.sizes = [a.shape[self.dim] for a in arrays]
        return self.backend.xp.concat(arrays, axis=self.dim)

    def backward(self, grad):
        grads = []
        start = 0
        prefix = (slice(None),) * self.dim
        for size, needs in zip(self.sizes, self.needs_input_grad):
            if needs:
                key = (*prefix, slice(start, start + size), Ellipsis)
                grads.append(GetItem.apply(grad, key=key))
            else:
                grads.append(None)
            start += size
        return tuple(grads)


class Pad(Function):
    """Constant padding; `widths` holds (before, after) per dimension."""

    params = ("widths", "value")
    saved = ("key",)

    def forward(self, x):
        xp = self.backend.xp
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, self.widths))
        out = xp.full(shape, self.value, dtype=x.dtype, device=self.backend.device)
        self.key = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape, self.widths))
        out[self.key] = x
        return out

    def backward(self, grad):
        return GetItem.apply(grad, key=self.key)


# -- public functions -------------------------------------------------------------


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _check_sizes(shape: tuple, x: Tensor, op: str) -> tuple:
    """Sizes are ints, each >= 0 or a single -1."""
    for s in shape:
        if not isinstance(s, int) or isinstance(s, bool):
            raise ShapeError(f"{op}: sizes must be ints, got {shape} for a tensor of shape "
                             f"{x.shape} ({s!r} is a {type(s).__name__})")
    if builtins.any(s < -1 for s in shape) or shape.count(-1) > 1:
        raise ShapeError(f"{op}: cannot view a tensor of shape {x.shape} as {shape}: sizes are "
                         "non-negative, with at most one -1 to be inferred")
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    """The same values in a new shape (one dimension may be -1).

    Example:
        >>> gf.arange(6).reshape(2, 3).shape
        (2, 3)
    """
    shape = _check_sizes(_shape_arg(shape), x, "reshape")
    if shape == tuple(x.data.shape):
        return x
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    total = x.numel()
    if shape.count(-1) > 1 or (-1 not in shape and known != total) or (
        -1 in shape and (known == 0 or total % known)
    ):
        raise ShapeError(f"reshape: cannot view a tensor of shape {x.shape} ({total} elements) "
                         f"as {shape}")
    if -1 in shape:
        shape = tuple(total // known if s == -1 else s for s in shape)
    return Reshape.apply(x, shape=shape)


def permute(x: Tensor, *dims) -> Tensor:
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in _shape_arg(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise ShapeError(f"permute: {dims} is not a permutation of the {x.ndim} dimensions of "
                         f"{x.shape}")
    return Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


def broadcast_to(x: Tensor, *shape) -> Tensor:
    shape = _shape_arg(shape)
    if tuple(x.data.shape) == shape:
        return x
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ShapeError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    return BroadcastTo.apply(x, shape=shape)


def expand(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_dim(start_dim, x.ndim, "flatten")
    end = normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {x.shape}")
    return reshape(x, (*x.shape[:start], -1, *x.shape[end + 1:]))


def squeeze(x: Tensor, dim=None) -> Tensor:
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = (dim,) if isinstance(dim, int) else dim
    dims = {normalize_dim(d, x.ndim, "squeeze") for d in dims}
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, (*x.shape[:dim], 1, *x.shape[dim:]))


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ConfigError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    for position, t in enumerate(tensors):
        if isinstance(t, Tensor) and t.ndim == 0:
            raise ShapeError(f"cat: the tensor at position {position} is 0-d and has no "
                             "dimension to join along; use gf.stack, or reshape it to (1,)")
    dim = normalize_dim(dim, first.ndim, "cat")
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != dim
        ):
            shapes = ", ".join(str(u.shape) for u in tensors)
            raise ShapeError(f"cat: shapes {shapes} differ outside dimension {dim}")
    if len({t.dtype for t in tensors}) > 1:  # gradflow dtypes: comparable across devices
        from gradflow.ops.promotion import result_type

        target = result_type(*(t.dtype for t in tensors))  # PyTorch's cat promotes like add
        tensors = [t.to(target) for t in tensors]
    return Cat.apply(*tensors, dim=dim)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join tensors along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ConfigError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of `split_size` (the last may be smaller), or of the listed sizes."""
    dim = normalize_dim(dim, x.ndim, "split")
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ConfigError(f"split: split size must be positive, got {step}")
        sizes = [builtins.min(step, n - s) for s in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} do not add up to {n} (dimension {dim})")
    prefix = (slice(None),) * dim
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (*prefix, slice(start, start + size), Ellipsis)))
        start += size
    return tuple(pieces)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks <= 0:
        raise ConfigError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = x.shape[normalize_dim(dim, x.ndim, "chunk")]
    return split(x, -(-n // chunks) if n else 1, dim)


def pad(x: Tensor, pad, value: float = 0.0) -> Tensor:
    """Constant padding, PyTorch's order: (last_before, last_after, previous_before, ...)."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: {pad} needs pairs for at most {x.ndim} dimensions")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if builtins.any(p < 0 for p in pad):  # negative widths crop (PyTorch)
        crop = tuple(slice(builtins.max(-lo, 0), s - builtins.max(-hi, 0))
                     for s, (lo, hi) in zip(x.shape, widths))
        if builtins.any(c.start > c.stop for c in crop):
            raise ShapeError(f"pad: {pad} crops more than the shape {x.shape} holds")
        x = getitem(x, crop)
        widths = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths]
    if builtins.all(w == (0, 0) for w in widths):
        return x
    return Pad.apply(x, widths=tuple(widths), value=value)


# -- indexing -----------------------------------------------------------------------


def _index_array(value, x: Tensor):
    """An index given as a Tensor, list or array, as a backend array (or None if basic)."""
    if isinstance(value, Tensor):
        if value.backend is not x.backend:
            from gradflow.autograd.function import mismatch_error

            raise mismatch_error("index", (x, value))
        index = value
    elif isinstance(value, (list, tuple)) or hasattr(value, "__array_interface__") or hasattr(
        value, "__dlpack__"
    ):
        from gradflow.creation import tensor

        index = tensor(value, device=x.backend)
        if index.numel() == 0:  # NOTE: [] holds no floats; it selects nothing, as in PyTorch
            index = index.long()
    else:
        if isinstance(value, float):
            raise IndexingError(f"index {value!r} is a float; a tensor of shape {x.shape} is "
                                "indexed by ints, slices, None, ... or integer/bool tensors")
        return None
    if index.dtype.is_floating_point:
        raise IndexingError(f"indices must be integer or bool tensors, got {index.dtype.name} "
                            f"(indexing a tensor of shape {x.shape}); convert them with .long()")
    return index.data


def _has_integer_array(x: Tensor, key) -> bool:
    for k in key if isinstance(key, tuple) else (key,):
        a = _index_array(k, x)
        if a is not None and not _is_bool(a):
            return True
    return False


def element_positions(x: Tensor, key) -> Tensor:
    """The flat (row-major) position in x of every element x[key] selects, in x[key]'s shape."""
    xp = x.backend.xp
    flat = xp.arange(x.numel(), dtype=x.backend.index_dtype, device=x.backend.device)
    return getitem(Tensor._wrap(xp.reshape(flat, x.shape), x.backend), key)


def _put_at_positions(x: Tensor, key, value, accumulate: bool) -> Tensor:
    positions = element_positions(x, key)
    if not isinstance(value, Tensor):
        from gradflow.creation import tensor

        value = tensor(value, dtype=x.dtype, device=x.backend)
    elif value.dtype is not x.dtype:
        value = value.to(x.dtype)
    try:
        value = broadcast_to(value, positions.shape)
    except ShapeError:
        raise ShapeError(f"setitem: cannot write a value of shape {value.shape} into the "
                         f"{positions.shape} elements selected from {x.shape}") from None
    flat = write_flat(reshape(x, (-1,)), reshape(positions, (-1,)), reshape(value, (-1,)),
                      accumulate)
    return reshape(flat, x.shape)


def write_flat(x: Tensor, positions: Tensor, values: Tensor, accumulate: bool) -> Tensor:
    """The 1-d x with values[i] written (or added) at positions[i]; differentiable in both.

    NOTE: where a position repeats without `accumulate`, the last value is kept, as a
    sequential loop would do; the others get no gradient (they are overwritten).
    """
    from gradflow.ops.elementwise import where

    n = x.shape[0]
    if accumulate:
        return x + IndexAdd.apply(values, positions, shape=(n,), lead=1)
    xp = x.backend.xp
    keep = Tensor._wrap(last_occurrence(xp, positions.data), x.backend)
    zeros = Tensor._wrap(xp.zeros_like(values.data), x.backend)
    scattered = IndexAdd.apply(where(keep, values, zeros), positions, shape=(n,), lead=1)
    ones = xp.ones(positions.shape, dtype=xp.int32, device=x.backend.device)
    hits = x.backend.scatter_add_rows(ones, positions.data, n)
    return where(Tensor._wrap(hits > 0, x.backend), scattered, x)


def last_occurrence(xp, positions):
    """A mask: True where positions[i] does not occur again after i."""
    n = positions.shape[0]
    if n == 0:
        return xp.zeros((0,), dtype=xp.bool, device=positions.device)
    order = xp.argsort(positions, stable=True)
    ordered = xp.take(positions, order)
    last = xp.concat([ordered[:-1] != ordered[1:], xp.ones((1,), dtype=xp.bool,
                                                            device=positions.device)])
    inverse = xp.argsort(order, stable=True)
    return xp.take(last, inverse)


def _is_bool(array) -> bool:
    return str(array.dtype).endswith("bool")


def _check_steps(key, x: Tensor, op: str) -> None:
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, slice) and k.step is not None and k.step == 0:
            raise IndexingError(f"{op}: slice {k} of a tensor of shape {x.shape} has step 0; "
                                "a step must be positive")


def _check_put(x: Tensor, key, value) -> None:
    """setitem's key fits x (int positions in range, masks of the indexed shape) and a Python
    number fits x's dtype; checked first, so a rejected write changes nothing."""
    from gradflow.creation import check_fits

    key = key if isinstance(key, tuple) else (key,)
    _check_steps(key, x, "setitem")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_fits(value, x.dtype, "setitem")
    axis = 0
    for k in key:
        if k is Ellipsis or k is None:
            break
        if isinstance(k, int) and not isinstance(k, bool):
            if axis >= x.ndim or not -x.shape[axis] <= k < x.shape[axis]:
                size = x.shape[axis] if axis < x.ndim else "no"
                raise IndexingError(f"setitem: index {k} is out of range for dimension {axis} "
                                    f"of size {size} (tensor of shape {x.shape})")
        elif hasattr(k, "dtype") and _is_bool(k):
            indexed = x.shape[axis:axis + k.ndim]
            if tuple(k.shape) != indexed:
                raise IndexingError(f"setitem: boolean mask of shape {tuple(k.shape)} does not "
                                    f"match the indexed dimensions {indexed} of a tensor of "
                                    f"shape {x.shape}")
            axis += k.ndim - 1
        axis += 1


def _expand_key(x: Tensor, key) -> tuple:
    """The key as a tuple with one Ellipsis made explicit as slices, index arrays as backend
    arrays (a bool mask of k dimensions standing for k dimensions)."""
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(a if (a := _index_array(k, x)) is not None else k for k in key)
    consumed = builtins.sum(k.ndim if _is_bool(k) else 1 for k in key
                            if k is not None and k is not Ellipsis and hasattr(k, "dtype"))
    consumed += builtins.sum(1 for k in key if k is not None and k is not Ellipsis
                             and not hasattr(k, "dtype"))
    ellipses = builtins.sum(1 for k in key if k is Ellipsis)
    if ellipses > 1:
        raise IndexingError(f"an index can have only one Ellipsis, got {key}")
    if consumed > x.ndim:
        raise IndexingError(f"too many indices for a tensor of shape {x.shape}: {consumed}")
    fill = (slice(None),) * (x.ndim - consumed)
    if ellipses:
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        return key[:at] + fill + key[at + 1:]
    return key + fill


def getitem(x: Tensor, key) -> Tensor:
    """x[key] with PyTorch's rules: ints, slices, None and Ellipsis select a view; index
    arrays (integer, repeats allowed, or bool masks) then pick elements. The dimensions they
    index are replaced by the broadcast index shape, in place when the index arrays are next
    to each other, else first (ints count as basic indices, as in PyTorch)."""
    _check_steps(key, x, "index")
    key = _expand_key(x, key)
    if not builtins.any(hasattr(k, "dtype") for k in key):
        return _basic(x, key)
    # 1. the basic part, with every index array as ':' (a mask as one ':' per dimension)
    basic, positions, arrays, axis = [], [], [], 0
    for k in key:
        if hasattr(k, "dtype"):
            width = k.ndim if _is_bool(k) else 1
            positions.append(axis)
            arrays.append(k)
            basic.extend([slice(None)] * width)
            axis += width
        elif k is None:
            basic.append(None)
            axis += 1
        elif isinstance(k, slice):
            basic.append(k)
            axis += 1
        else:
            basic.append(k)  # an int: its dimension goes away
    y = _basic(x, tuple(basic))
    # 2. each mask as the integer arrays of its nonzero positions
    xp = x.backend.xp
    dims, index_arrays = [], []
    for at, a in zip(positions, arrays):
        if _is_bool(a):
            expected = y.shape[at:at + a.ndim]
            if tuple(a.shape) != expected:
                raise ShapeError(f"boolean mask of shape {tuple(a.shape)} does not match the "
                                 f"indexed dimensions {expected} of a tensor of shape {x.shape}")
            for d, coords in enumerate(xp.nonzero(a)):
                dims.append(at + d)
                index_arrays.append(coords)
        else:
            dims.append(at)
            index_arrays.append(a)
    # 3. one flat index into the advanced dimensions, moved to the front
    shape = broadcast_shapes("index", *(tuple(a.shape) for a in index_arrays))
    index = None
    for d, a in zip(dims, index_arrays):
        size = y.shape[d]
        if builtins.bool(xp.any((a < -size) | (a >= size))):
            raise IndexingError(f"index out of range for dimension {d} of size {size} "
                                f"(tensor of shape {x.shape}, key {key})")
        a = xp.astype(xp.where(a < 0, a + size, a), x.backend.index_dtype)
        a = xp.broadcast_to(a, shape)
        index = a if index is None else index * size + a
    rest = [d for d in range(y.ndim) if d not in dims]
    if dims != list(range(len(dims))):
        y = permute(y, (*dims, *rest))
    out = Take.apply(y, Tensor._wrap(index, x.backend), lead=len(dims))
    # 4. adjacent index arrays put their dimensions where the first one was (PyTorch, NumPy)
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if adjacent and dims[0] > 0:
        k = len(shape)
        before = dims[0]
        order = (*range(k, k + before), *range(k), *range(k + before, out.ndim))
        out = permute(out, order)
    return out


def _basic(x: Tensor, key: tuple) -> Tensor:
    """x[key] for ints, slices and None only."""
    if builtins.all(isinstance(k, slice) and k == slice(None) for k in key):
        return x
    try:
        if builtins.any(k is None for k in key):
            # NOTE: setitem (the backward) takes no None, so new axes are a reshape after.
            plain = tuple(k for k in key if k is not None) + (Ellipsis,)
            return reshape(GetItem.apply(x, key=plain), _basic_index_shape(x.shape, key))
        return GetItem.apply(x, key=(*key, Ellipsis))
    except IndexError as exc:
        raise IndexingError(f"index {key} is out of range for shape {x.shape} ({exc})") from None


def _basic_index_shape(shape, key) -> tuple[int, ...]:
    """The shape x[key] has, for a key of ints, slices, None and one Ellipsis."""
    consumed = builtins.sum(1 for k in key if k is not None and k is not Ellipsis)
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(1)
        elif k is Ellipsis:
            for _ in range(len(shape) - consumed):
                out.append(shape[axis])
                axis += 1
        elif isinstance(k, slice):
            out.append(len(range(*k.indices(shape[axis]))))
            axis += 1
        else:
            axis += 1
    return tuple(out)


def index_put(x: Tensor, key, value, accumulate: bool = False) -> Tensor:
    """x with `value` written at `key`, out of place (Tensor.__setitem__ uses it).

    With integer index arrays, a position indexed twice takes the value written last
    (`accumulate=False`), or the sum of all of them, added in order (`accumulate=True`):
    deterministic and equal on every device.
    """
    _check_put(x, key, value)
    if accumulate or _has_integer_array(x, key):
        return _put_at_positions(x, key, value, accumulate)
    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(_index_array(k, x) if _index_array(k, x) is not None else k for k in key)
    if not builtins.any(k is Ellipsis or hasattr(k, "dtype") for k in key):
        key = (*key, Ellipsis)
    if isinstance(value, Tensor):
        if value.dtype is not x.dtype:
            value = value.to(x.dtype)
    elif not isinstance(value, (int, float, bool)):
        from gradflow.creation import tensor

        value = tensor(value, dtype=x.dtype, device=x.backend)
    if len(key) == 1 and hasattr(key[0], "dtype"):
        # NOTE: a lone mask goes in bare: array-api-strict (2.6) cannot index with a
        # one-element tuple holding an array on a non-default device.
        key = key[0]
    try:
        return IndexPut.apply(x, value, key=key)
    except (ValueError, TypeError) as exc:
        shape = value.shape if isinstance(value, Tensor) else ()
        raise ShapeError(f"setitem: cannot write a value of shape {shape} into {x.shape} at "
                         f"{key} ({exc})") from None
