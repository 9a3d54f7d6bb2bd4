"""Comparisons, logic and bitwise ops: no Function, no gradient (the results are bool or int)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradflow.autograd.function import mismatch_error
from gradflow.errors import DTypeError
from gradflow.ops._util import as_tensor_like, reraise, tensor_operand
from gradflow.ops.promotion import as_python_scalar, is_scalar, result_type
from gradflow.tensor import Tensor

if TYPE_CHECKING:
    from gradflow.dtypes import DType


def _operands(a, b, op: str) -> tuple[Any, Any, Any, DType]:
    """Arrays (or Python scalars) of both operands in their promoted dtype, and the backend."""
    like = tensor_operand(a, b, op)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.backend is not b.backend:
            raise mismatch_error(op, (a, b))
        if a.data.dtype == b.data.dtype:
            return a.data, b.data, a.backend, a.dtype
    a = a if isinstance(a, Tensor) or is_scalar(a) else as_tensor_like(a, like)
    b = b if isinstance(b, Tensor) or is_scalar(b) else as_tensor_like(b, like)
    dtype = result_type(a, b)
    return _array(a, dtype, like), _array(b, dtype, like), like.backend, dtype


def _array(value, dtype, like: Tensor):
    if isinstance(value, Tensor):
        data = value.data
        target = like.backend.xp_dtype(dtype)
        return data if data.dtype == target else like.backend.xp.astype(data, target)
    return as_python_scalar(value, dtype)


def _apply(fn, a, b, op: str) -> Tensor:
    x, y, backend, _ = _operands(a, b, op)
    try:
        return Tensor._wrap(fn(x, y), backend)
    except (ValueError, TypeError) as exc:
        raise reraise(op, exc, a, b) from None


def eq(a, b) -> Tensor:
    """a == b elementwise, compared in the promoted dtype (True == uint8(7) is False)."""
    return _apply(lambda x, y: x == y, a, b, "eq")


def ne(a, b) -> Tensor:
    return _apply(lambda x, y: x != y, a, b, "ne")


def lt(a, b) -> Tensor:
    return _apply(lambda x, y: x < y, a, b, "lt")


def le(a, b) -> Tensor:
    return _apply(lambda x, y: x <= y, a, b, "le")


def gt(a, b) -> Tensor:
    return _apply(lambda x, y: x > y, a, b, "gt")


def ge(a, b) -> Tensor:
    return _apply(lambda x, y: x >= y, a, b, "ge")


def _truth(x: Tensor):
    xp = x.backend.xp
    return x.data if x.data.dtype == xp.bool else x.data != 0


def _truth_of(value, like: Tensor):
    if isinstance(value, Tensor):
        if value.backend is not like.backend:
            raise mismatch_error("logical op", (like, value))
        return _truth(value)
    if is_scalar(value):
        backend = like.backend
        return backend.xp.asarray(bool(value), device=backend.device)
    return _truth(as_tensor_like(value, like))


def _logical(fn, a, b) -> Tensor:
    like = a if isinstance(a, Tensor) else b
    return Tensor._wrap(fn(like.backend.xp, _truth_of(a, like), _truth_of(b, like)), like.backend)


def logical_and(a, b) -> Tensor:
    """Elementwise `a and b` on truth values (nonzero is True); a bool tensor."""
    return _logical(lambda xp, x, y: xp.logical_and(x, y), a, b)


def logical_or(a, b) -> Tensor:
    return _logical(lambda xp, x, y: xp.logical_or(x, y), a, b)


def logical_xor(a, b) -> Tensor:
    return _logical(lambda xp, x, y: xp.logical_xor(x, y), a, b)


def logical_not(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.logical_not(_truth(x)), x.backend)


def _integral(op: str, dtype) -> None:
    if dtype.is_floating_point:
        raise DTypeError(f"{op}: defined for integer and bool tensors, not {dtype.name}")


def _bitwise(fn, a, b, op: str) -> Tensor:
    x, y, backend, dtype = _operands(a, b, op)
    _integral(op, dtype)
    try:
        return Tensor._wrap(fn(x, y), backend)
    except (ValueError, TypeError) as exc:
        raise reraise(op, exc, a, b) from None


def bitwise_and(a, b) -> Tensor:
    """a & b: bitwise on integers, logical on bools."""
    return _bitwise(lambda x, y: x & y, a, b, "bitwise_and")


def bitwise_or(a, b) -> Tensor:
    return _bitwise(lambda x, y: x | y, a, b, "bitwise_or")


def bitwise_xor(a, b) -> Tensor:
    return _bitwise(lambda x, y: x ^ y, a, b, "bitwise_xor")


def bitwise_not(x: Tensor) -> Tensor:
    """~x: logical not on bools, bitwise not (two's complement) on integers."""
    _integral("bitwise_not", x.dtype)
    xp = x.backend.xp
    data = xp.logical_not(x.data) if x.data.dtype == xp.bool else xp.bitwise_invert(x.data)
    return Tensor._wrap(data, x.backend)


def _shift(a, b, op: str, left: bool) -> Tensor:
    x, y, backend, dtype = _operands(a, b, op)
    if dtype.is_floating_point or dtype.name == "bool":
        raise DTypeError(f"{op}: defined for integer tensors, not {dtype.name}")
    return Tensor._wrap((x << y) if left else (x >> y), backend)


def bitwise_left_shift(a, b) -> Tensor:
    """a << b on integers."""
    return _shift(a, b, "bitwise_left_shift", True)


def bitwise_right_shift(a, b) -> Tensor:
    """a >> b on integers (arithmetic shift for signed types)."""
    return _shift(a, b, "bitwise_right_shift", False)


def isfinite(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.isfinite(x.data), x.backend)


def isnan(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.isnan(x.data), x.backend)


def isinf(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.isinf(x.data), x.backend)


def isposinf(x: Tensor) -> Tensor:
    xp = x.backend.xp
    return Tensor._wrap(xp.isinf(x.data) & (x.data > 0), x.backend)


def isneginf(x: Tensor) -> Tensor:
    xp = x.backend.xp
    return Tensor._wrap(xp.isinf(x.data) & (x.data < 0), x.backend)


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol * |b| elementwise (PyTorch's isclose; infinities equal only
    themselves; NaN equals NaN only with equal_nan)."""
    x, y, backend, dtype = _operands(a, b, "isclose")
    xp = backend.xp
    target = backend.xp_dtype(dtype if dtype.is_floating_point else backend.default_float)
    x, y = (xp.astype(v, target) if hasattr(v, "shape") else
            xp.asarray(float(v), dtype=target, device=backend.device) for v in (x, y))
    close = (x == y) | (xp.abs(x - y) <= atol + rtol * xp.abs(y))
    finite = xp.isfinite(x - y)
    close = (x == y) | (close & finite)
    if equal_nan:
        close = close | (xp.isnan(x) & xp.isnan(y))
    return Tensor._wrap(close, backend)


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """Whether every element of a is close to b (see isclose)."""
    close = isclose(a, b, rtol, atol, equal_nan)
    return bool(close.backend.xp.all(close.data))
