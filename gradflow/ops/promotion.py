"""Type promotion, PyTorch's rules: `result_type` of tensors, 0-d tensors and scalars.

Operands fall in three groups, in falling priority: tensors with dimensions, 0-d
tensors, and scalars (Python bool/int/float, NumPy scalars). Each group's dtypes
promote among themselves (`promote_types`); a lower group decides the result only
when its category (bool < integer < floating) is higher than the groups above it.
So `uint8 tensor + 300` stays uint8, `int32 tensor + 2.5` is float32 (the default
float), `float32 tensor + 0-d float64 tensor` stays float32, and `int8 tensor +
0-d float64 tensor` is float64, exactly as `torch.result_type`.
"""

from __future__ import annotations

import sys

from gradflow import dtypes as _dt
from gradflow.errors import DTypeError
from gradflow.tensor import Tensor

_UNSIGNED = (_dt.uint8,)


def _category(dtype) -> int:
    if dtype is _dt.bool_:
        return 0
    return 2 if dtype.is_floating_point else 1


def promote_types(a: _dt.DType, b: _dt.DType) -> _dt.DType:
    """The smallest dtype both `a` and `b` convert to without loss (torch.promote_types).

    Example:
        >>> gf.promote_types(gf.uint8, gf.int8)
        gradflow.int16
    """
    if a is b:
        return a
    if a is _dt.bool_:
        return b
    if b is _dt.bool_:
        return a
    if a.is_floating_point and b.is_floating_point:
        if {a.name, b.name} == {"float16", "bfloat16"}:
            return _dt.float32
        return a if a.itemsize >= b.itemsize else b
    if a.is_floating_point:
        return a
    if b.is_floating_point:
        return b
    if (a in _UNSIGNED) != (b in _UNSIGNED):  # uint8 with a signed integer
        signed = b if a in _UNSIGNED else a
        return signed if signed.itemsize > 1 else _dt.int16
    return a if a.itemsize >= b.itemsize else b


def scalar_dtype(value) -> _dt.DType | None:
    """The dtype a Python or NumPy scalar stands for (bool, int64, float32), else None."""
    if isinstance(value, bool):
        return _dt.bool_
    if isinstance(value, int):
        return _dt.int64
    if isinstance(value, float):
        return _dt.float32
    np = sys.modules.get("numpy")  # a NumPy scalar can exist only once NumPy is loaded
    if np is not None and isinstance(value, np.generic):
        # NOTE: PyTorch reads a NumPy bool scalar as a float number (uint8 * np.bool_(True)
        # is float32 there); gradflow follows, so code ported from PyTorch keeps its dtypes.
        kind = value.dtype.kind
        if kind in "iu":
            return _dt.int64
        if kind in "fb":
            return _dt.float32
    return None


def is_scalar(value) -> bool:
    return not isinstance(value, Tensor) and scalar_dtype(value) is not None


def as_python_scalar(value, dtype: _dt.DType):
    """A scalar as the Python type that mixes with arrays of `dtype` under the array API."""
    if dtype is _dt.bool_:
        return bool(value)
    if dtype.is_floating_point:
        return float(value)
    if scalar_dtype(value).is_floating_point:
        raise DTypeError(f"cannot combine the float {value!r} with an integer result "
                         f"({dtype.name})")
    return int(value)


def _combine(higher, lower):
    """torch's combine_categories: the lower group counts only if it is of a higher kind."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.is_floating_point:
        return higher
    if higher is _dt.bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> _dt.DType:
    """The dtype PyTorch gives an elementwise op on these operands (torch.result_type).

    Example:
        >>> gf.result_type(gf.tensor([1, 2], dtype=gf.uint8), -5)
        gradflow.uint8
    """
    groups = [None, None, None]  # tensors with dims, 0-d tensors, scalars
    for value in operands:
        if isinstance(value, Tensor):
            dtype, group = value.dtype, (0 if value.ndim else 1)
        elif isinstance(value, _dt.DType):
            dtype, group = value, 0
        else:
            dtype, group = scalar_dtype(value), 2
            if dtype is None:
                raise DTypeError(f"result_type: {type(value).__name__} is neither a tensor nor "
                                 "a scalar; convert it with gf.tensor first")
        groups[group] = dtype if groups[group] is None else promote_types(groups[group], dtype)
    out = _combine(groups[0], _combine(groups[1], groups[2]))
    if out is None:
        raise DTypeError("result_type: needs at least one tensor or scalar")
    return out


def can_cast(source: _dt.DType, target: _dt.DType) -> bool:
    """Whether an in-place op may write `source` values into `target` (torch.can_cast)."""
    return _category(source) <= _category(target)
