"""Helpers shared by the op families: argument coercion and error messages."""

from __future__ import annotations

import operator

from gradflow.errors import ConfigError, DimensionError, DTypeError, GradflowError, ShapeError
from gradflow.tensor import Tensor

SCALARS = (int, float, bool)


def as_tensor_like(value, like: Tensor) -> Tensor:
    """A non-scalar operand (list, NumPy array) as a constant tensor on `like`'s device."""
    from gradflow.creation import tensor

    return tensor(value, device=like.backend, dtype=None)


def promote(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both tensors cast to their common dtype (PyTorch's promote_types)."""
    from gradflow.ops.cast import cast
    from gradflow.ops.promotion import promote_types

    target = promote_types(a.dtype, b.dtype)
    return tuple(t if t.dtype is target else cast(t, target) for t in (a, b))


def broadcast_shapes(op: str, *shapes) -> tuple[int, ...]:
    """The broadcast shape, or a ShapeError naming the op and the shapes."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(ndim):
        size = 1
        for shape in shapes:
            k = axis - ndim + len(shape)
            if k < 0:
                continue
            d = shape[k]
            if d != 1:
                if size != 1 and size != d:
                    listed = " and ".join(str(tuple(s)) for s in shapes)
                    raise ShapeError(f"{op}: shapes {listed} do not broadcast (dimension {axis})")
                size = d
        result.append(size)
    return tuple(result)


def reraise(op: str, exc: Exception, *args) -> Exception:
    """Turn a backend's ValueError/TypeError into a gradflow error naming the op and operands."""
    if isinstance(exc, GradflowError):
        return exc
    shapes = [tuple(a.shape) for a in args if isinstance(a, Tensor)]
    dtypes = [a.dtype.name for a in args if isinstance(a, Tensor)]
    if len(shapes) > 1:
        broadcast_shapes(op, *shapes)  # raises ShapeError when that is the cause
    if isinstance(exc, TypeError):
        return DTypeError(f"{op}: not defined for dtypes {', '.join(dtypes)} ({exc})")
    return ShapeError(f"{op}: cannot apply to shapes {shapes} with dtypes {dtypes} ({exc})")


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    try:
        if isinstance(dim, bool):
            raise TypeError
        dim = operator.index(dim)
    except TypeError:
        raise DTypeError(f"{op}: dim must be an int (or a tuple of ints), got {dim!r} "
                         f"({type(dim).__name__})") from None
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise DimensionError(f"{op}: dim {dim} is out of range for a tensor with {ndim} "
                             "dimensions")
    return dim % ndim if ndim else 0


def normalize_dims(dim, ndim: int, op: str) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if not isinstance(dim, (tuple, list)):
        dims = (normalize_dim(dim, ndim, op),)
    else:
        dims = tuple(sorted(normalize_dim(d, ndim, op) for d in dim))
        if len(set(dims)) < len(dims):
            raise ShapeError(f"{op}: dim {tuple(dim)} names a dimension twice")
    # NOTE: a 0-d tensor accepts dim 0 and -1 (PyTorch) but has no axis to reduce
    return dims if ndim else ()


def pair_of_ints(value, name: str, op: str, minimum: int = 1) -> tuple[int, int]:
    """`value` as an (int, int) pair (one int is repeated), each >= minimum, else ConfigError."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ConfigError(f"{op}: {name} must be a {kind} int or a pair of them, got {value!r}")
    return items


def positive_int(value, name: str, op: str) -> int:
    """`value` if it is an int >= 1, else a ConfigError naming the op and the argument."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{op}: {name} must be a positive int, got {value!r}")
    return value
