"""Elementwise ops: arithmetic, unary math, comparisons, casts and device transfers.

Each primitive is its forward and its local derivative side by side; composite
ops (sub, rsub, square, ...) are one line built from primitives.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, overload

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function, mismatch_error
from gradflow.errors import ConfigError, DTypeError
from gradflow.ops._util import as_tensor_like, reraise, tensor_operand
from gradflow.ops.cast import cast
from gradflow.ops.promotion import as_python_scalar, is_scalar, result_type
from gradflow.tensor import Tensor

# -- arithmetic ---------------------------------------------------------------


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        needs = self.needs_input_grad
        return (grad if needs[0] else None), (grad if needs[1] else None)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        needs = self.needs_input_grad
        return (grad if needs[0] else None), (Neg.apply(grad) if needs[1] else None)


class Mul(Function):
    grad_reads = ((1,), (0,))  # a's gradient reads b, b's reads a

    def forward(self, a, b):
        return a * b

    def backward(self, grad):
        a, b = self.inputs
        needs = self.needs_input_grad
        return (Mul.apply(grad, b) if needs[0] else None,
                Mul.apply(grad, a) if needs[1] else None)


class Div(Function):
    grad_reads = ((1,), (0, 1))

    def forward(self, a, b):
        return a / b

    def backward(self, grad):
        a, b = self.inputs
        needs = self.needs_input_grad
        grad_a = grad / b if needs[0] else None
        grad_b = -(grad * a) / (b * b) if needs[1] else None
        return grad_a, grad_b


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad):
        return Neg.apply(grad)


@overload
def _operands(a: Tensor, b: Tensor, op: str, *,
              floating: bool = False) -> tuple[Tensor, Tensor]: ...
@overload
def _operands(a, b, op: str, *, floating: bool = False) -> tuple[Any, Any]: ...
def _operands(a, b, op: str, *, floating: bool = False):
    """Both operands under PyTorch's promotion: tensors cast to the result dtype (the default
    float when `floating` and the result is bool or integer), scalars as Python numbers."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if b.backend is not a.backend:
                raise mismatch_error(op, (a, b))
            if a.data.dtype == b.data.dtype and (
                    not floating or a.data.dtype in a.backend.float_dtypes):
                return a, b
        elif (type(b) is float or type(b) is int) and a.data.dtype in a.backend.float_dtypes:
            return a, b  # the common case, decided without result_type: a keeps its dtype
    like = tensor_operand(a, b, op)
    a = a if isinstance(a, Tensor) or is_scalar(a) else as_tensor_like(a, like)
    b = b if isinstance(b, Tensor) or is_scalar(b) else as_tensor_like(b, like)
    dtype = result_type(a, b)
    if floating and not dtype.is_floating_point:
        dtype = like.backend.default_float
    return _to(a, dtype, op), _to(b, dtype, op)


def _same_kind(a, b) -> bool:
    """Whether a and b need no promotion: tensors of one dtype and device, or a float
    tensor with a Python number."""
    if type(a) is not Tensor:
        return False
    if type(b) is Tensor:
        return b.backend is a.backend and a.data.dtype == b.data.dtype
    return (type(b) is float or type(b) is int) and a.data.dtype in a.backend.float_dtypes


def _to(value, dtype, op: str):
    if isinstance(value, Tensor):
        return value if value.dtype is dtype else cast(value, dtype)
    if type(value) is int and not dtype.is_floating_point:
        from gradflow.creation import check_fits

        check_fits(value, dtype, op)  # uint8 + 300 is an error, never a wrapped result
    try:
        return as_python_scalar(value, dtype)
    except DTypeError as exc:
        raise DTypeError(f"{op}: {exc}") from None


def _binary(cls, a, b, op: str, *, floating: bool = False, params: dict | None = None):
    """cls applied to both operands after promotion, with cls's declared `params`; backend
    errors named after `op`."""
    # NOTE: params as a dict, not **params: a ** signature builds a dict on every call.
    # The commonest case, a float tensor with a Python number, is decided without a call
    # (this runs per op); _same_kind decides the other one, tensors of one dtype and device.
    if type(a) is Tensor and (type(b) is float or type(b) is int) and (
            a.data.dtype in a.backend.float_dtypes):
        pass
    elif not _same_kind(a, b):
        a, b = _operands(a, b, op, floating=floating)
    elif floating and a.data.dtype not in a.backend.float_dtypes:
        a, b = _operands(a, b, op, floating=floating)
    try:
        return cls.apply(a, b) if params is None else cls.apply(a, b, **params)
    except (ValueError, TypeError) as exc:
        raise reraise(op, exc, a, b) from None


def add(a: Tensor, b, *, alpha=1) -> Tensor:
    """a + alpha * b with broadcasting and PyTorch's type promotion.

    Example:
        >>> gf.add(gf.ones(2), 1.0).tolist()
        [2.0, 2.0]
    """
    if alpha != 1:
        b = mul(b, alpha) if isinstance(b, Tensor) else b * alpha
    return _binary(Add, a, b, "add")


def mul(a: Tensor, b) -> Tensor:
    """a * b with broadcasting."""
    return _binary(Mul, a, b, "mul")


def div(a: Tensor, b, *, rounding_mode: str | None = None) -> Tensor:
    """a / b: true division (integers give the default float), or rounded with
    rounding_mode "trunc" (toward zero) or "floor" (toward minus infinity)."""
    if rounding_mode is None:
        if type(b) is float and a.data.dtype in a.backend.float_dtypes:
            return Div.apply(a, b)
        return _binary(Div, a, b, "div", floating=True)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        return _binary(Rounded, a, b, "div", params={"fn": _trunc_divide})
    raise ConfigError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


def _trunc_divide(xp, a, b):
    if _is_float(a) or _is_float(b):
        return xp.trunc(a / b)
    q = a // b
    inexact = (a % b) != 0
    return xp.where(inexact & ((a < 0) != (b < 0)), q + 1, q)


def _is_float(value) -> bool:
    return isinstance(value, float) or (hasattr(value, "dtype") and "float" in str(value.dtype))


def floor_divide(a: Tensor, b) -> Tensor:
    """a // b, rounded toward minus infinity (Python's and PyTorch's //); gradient 0."""
    return _binary(Rounded, a, b, "floor_divide", params={"fn": _floor_divide})


def _floor_divide(xp, a, b):
    return a // b


class Rounded(Function):
    """A piecewise-constant function of its inputs (rounded division): gradient 0."""

    params = ("fn",)  # fn(xp, *arrays): the forward

    def forward(self, *args):
        return self.fn(self.backend.xp, *args)

    def backward(self, grad):
        zero = _zeros(grad)
        return tuple(zero if n else None for n in self.needs_input_grad)


def _zeros(like: Tensor) -> Tensor:
    return Tensor._wrap(like.backend.xp.zeros_like(like.data), like.backend)


class Remainder(Function):
    """a % b with the divisor's sign (Python's), or fmod (C's: the dividend's sign)."""

    params = ("c_sign",)
    grad_reads = ((), (0, 1))  # only b's gradient reads a and b

    def forward(self, a, b):
        r = a % b
        if self.c_sign:  # fmod: move a remainder of the divisor's sign to the dividend's
            xp = self.backend.xp
            r = xp.where((r != 0) & ((r < 0) != (a < 0)), r - b, r)
        return r

    def backward(self, grad):
        a, b = self.inputs
        needs = self.needs_input_grad
        grad_b = None
        if needs[1]:
            quotient = div(a, b, rounding_mode="trunc" if self.c_sign else "floor")
            grad_b = -(grad * quotient)
        return (grad if needs[0] else None), grad_b


def remainder(a: Tensor, b) -> Tensor:
    """a % b with the sign of b (Python's %); a - floor(a / b) * b."""
    return _binary(Remainder, a, b, "remainder", params={"c_sign": False})


def fmod(a: Tensor, b) -> Tensor:
    """C's remainder: a - trunc(a / b) * b, with the sign of a."""
    return _binary(Remainder, a, b, "fmod", params={"c_sign": True})


def neg(x: Tensor) -> Tensor:
    """-x; a bool tensor has no negation (use ~x or logical_not)."""
    if x.data.dtype == x.backend.xp.bool:
        raise DTypeError("neg: the unary minus is not defined for bool tensors; use ~x or "
                         "gf.logical_not(x) to invert a mask")
    return Neg.apply(x)


def sub(a: Tensor, b, *, alpha=1) -> Tensor:
    """a - alpha * b."""
    if alpha == 1 and _same_kind(a, b) and a.data.dtype in a.backend.float_dtypes:
        # NOTE: the common cases written out (they run per op): a float tensor minus a
        # Python number, or minus a tensor of its dtype and device
        try:
            return Sub.apply(a, b)
        except (ValueError, TypeError) as exc:
            raise reraise("sub", exc, a, b) from None
    _refuse_bool(a, b, "sub")
    if alpha != 1:
        b = mul(b, alpha) if isinstance(b, Tensor) else b * alpha
    return _binary(Sub, a, b, "sub")


def rsub(a: Tensor, b) -> Tensor:
    """b - a for a scalar or array b."""
    if not isinstance(b, Tensor) and not is_scalar(b):
        b = as_tensor_like(b, a)
    _refuse_bool(a, b, "rsub")
    return _binary(Sub, b, a, "rsub")


def _refuse_bool(a, b, op: str) -> None:
    if (isinstance(a, Tensor) and a.dtype.name == "bool") or (
            isinstance(b, Tensor) and b.dtype.name == "bool"):
        raise DTypeError(f"{op}: subtracting bool tensors is not defined; use ^ or "
                         "gf.logical_xor instead")


def rdiv(a: Tensor, b) -> Tensor:
    """b / a for a scalar or array b."""
    if not is_scalar(b):
        b = _tensorize(b, a)
    return _binary(Div, b, a, "rdiv", floating=True)


class Pow(Function):
    """x ** e, either of which may be a constant scalar; the backend's pow."""

    grad_reads = ((0, 1), (0, 1))
    saves_output = True

    def forward(self, x, e):
        # NOTE: NumPy reductions give NumPy scalars, whose ** is C's powf, not the ufunc's
        # pow that 0-d arrays use (array-api-strict): 0-d operands go in as arrays, so
        # both backends compute the same bits.
        xp = self.backend.xp
        if hasattr(x, "dtype") and x.ndim == 0:
            x = xp.asarray(x)
        if hasattr(e, "dtype") and e.ndim == 0:
            e = xp.asarray(e)
        if type(e) is not float and type(e) is not int or not hasattr(x, "dtype"):
            return x ** e
        # NOTE: NumPy computes a Python-scalar power of 2, 0.5, -1, 1 or 0 by a special
        # path (square, sqrt, ...) that can differ from pow() in the last bit; spelled
        # out here, every backend gives the same bits.
        if e == 2:
            return x * x
        if e == 0.5:
            return xp.sqrt(x)
        if e == -1:
            return 1.0 / x
        if e == 1:
            return xp.asarray(x, copy=True)
        if e == 0:
            return xp.ones_like(x)
        return x ** e

    def backward(self, grad):
        # NOTE: PyTorch's rules at the edges: d/dx is 0 where e == 0 (so x ** 0. has
        # gradient 0 at 0); d/de is 0 where x == 0 and e >= 0, else x ** e * log(x)
        # (NaN for a negative base).
        x, e = self.inputs
        needs = self.needs_input_grad
        grad_x = grad_e = None
        if needs[0]:
            if isinstance(e, Tensor):
                grad_x = where(e == 0, 0.0, grad * (e * pow(x, e - 1)))
            elif e == 0:
                grad_x = _zeros(grad)
            elif e == 2:
                grad_x = grad * (x * 2.0)
            else:
                grad_x = grad * (pow(x, e - 1) * e)
        if needs[1]:
            out = self.output
            if isinstance(x, Tensor):
                grad_e = where((x == 0) & (e >= 0), 0.0, grad * (out * log(x)))
            else:
                log_x = math.log(x) if x > 0 else (float("-inf") if x == 0 else float("nan"))
                grad_e = grad * (out * log_x)
                if x == 0:
                    grad_e = where(e >= 0, 0.0, grad_e)
        return grad_x, grad_e


def pow(x: Tensor | float, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """x ** exponent with the backend's pow: integers to integer powers stay integers.

    Example:
        >>> (gf.tensor([-3.0, 0.0]) ** 2).tolist()
        [9.0, 0.0]
    """
    x, exponent = _operands(x, exponent, "pow")
    x, exponent = autocast_inputs("pow", x, exponent)
    if isinstance(x, Tensor) and not x.dtype.is_floating_point:
        negative = exponent < 0 if not isinstance(exponent, Tensor) else (
            exponent.dtype.name != "bool" and builtins.bool(_any(exponent < 0)))
        if negative:
            raise DTypeError(f"pow: integers to negative integer powers are not allowed "
                             f"({x.dtype.name} ** {exponent!r}); convert the base with .float()")
    try:
        return Pow.apply(x, exponent)
    except (ValueError, TypeError) as exc:
        raise reraise("pow", exc, x, exponent) from None


def _any(mask: Tensor):
    return mask.backend.xp.any(mask.data)


def rpow(x: Tensor, base) -> Tensor:
    """base ** x for a scalar base (3 ** gf.tensor(3) is the integer 27)."""
    return pow(base if is_scalar(base) else _tensorize(base, x), x)


def square(x: Tensor) -> Tensor:
    return pow(x, 2)


def reciprocal(x: Tensor) -> Tensor:
    return rdiv(x, 1.0)


# -- unary math -----------------------------------------------------------------


class Exp(Function):
    saves_output = True

    def forward(self, x):
        return self.backend.xp.exp(x)

    def backward(self, grad):
        return grad * self.output


class Log(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        return self.backend.xp.log(x)

    def backward(self, grad):
        return grad / self.inputs[0]


class Sqrt(Function):
    saves_output = True

    def forward(self, x):
        return self.backend.xp.sqrt(x)

    def backward(self, grad):
        return grad / (self.output * 2.0)


class SqrtOfSquares(Sqrt):
    """sqrt for norms and standard deviations: gradient 0 where the result is 0 (a constant
    input), as PyTorch's norm and std backward, rather than 0 * inf = NaN."""

    def backward(self, grad):
        out = self.output
        return where(out == 0, 0.0, grad / (out * 2.0))


class Sin(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        return self.backend.xp.sin(x)

    def backward(self, grad):
        return grad * cos(self.inputs[0])


class Cos(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        return self.backend.xp.cos(x)

    def backward(self, grad):
        return grad * -sin(self.inputs[0])


class Tanh(Function):
    saves_output = True

    def forward(self, x):
        return self.backend.xp.tanh(x)

    def backward(self, grad):
        return TanhBackward.apply(grad, self.output)


class TanhBackward(Function):
    """tanh's gradient from its output y, grad * (1 - y * y), as one op."""

    grad_reads = ((1,), (0, 1))  # grad's gradient reads y; y's reads both

    def forward(self, grad, y):
        return grad * (1.0 - y * y)

    def backward(self, grad_grad):
        grad, y = self.inputs
        needs = self.needs_input_grad
        return (TanhBackward.apply(grad_grad, y) if needs[0] else None,
                grad_grad * grad * y * -2.0 if needs[1] else None)


class Sigmoid(Function):
    saves_output = True

    def forward(self, x):
        # NOTE: 1 / (1 + exp(-x)) overflows exp for x < -88 in float32, giving
        # 1/inf = 0, which is the right limit; no NaN is produced.
        xp = self.backend.xp
        return 1.0 / (1.0 + xp.exp(-x))

    def backward(self, grad):
        return SigmoidBackward.apply(grad, self.output)


class SigmoidBackward(Function):
    """sigmoid's gradient from its output y, grad * y * (1 - y), as one op."""

    grad_reads = ((1,), (0, 1))  # grad's gradient reads y; y's reads both

    def forward(self, grad, y):
        return grad * (y * (1.0 - y))

    def backward(self, grad_grad):
        grad, y = self.inputs
        needs = self.needs_input_grad
        return (SigmoidBackward.apply(grad_grad, y) if needs[0] else None,
                grad_grad * grad * (1.0 - 2.0 * y) if needs[1] else None)


class Relu(Function):
    saves_output = True

    def forward(self, x):
        return self.backend.xp.maximum(x, 0.0)

    def backward(self, grad):
        # NOTE: the derivative at exactly 0 is taken as 0, as PyTorch does.
        return ReluBackward.apply(grad, self.out_data)


class ReluBackward(Function):
    """relu's gradient: grad where the output is positive, else 0 (as PyTorch's
    threshold_backward; a NaN gradient at an inactive unit gives 0). The output enters
    only through its sign, so this op is linear in grad and constant in the output."""

    def forward(self, grad, out):
        return self.backend.relu_backward(grad, out)

    def backward(self, grad_grad):
        return ReluBackward.apply(grad_grad, self.inputs[1]), None


class Abs(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        return self.backend.xp.abs(x)

    def backward(self, grad):
        # NOTE: sign(0) = 0, so abs has gradient 0 at 0 (PyTorch's choice).
        x = self.inputs[0].data
        return grad * _constant(self.backend.xp.sign(x), self.backend, x.dtype)


class Erf(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        # NOTE: the array API has no erf: ops/_erf.py evaluates piecewise series to a few
        # ulp in float64 and float32.
        from gradflow.ops import _erf

        return _erf.erf(self.backend.xp, x, self.backend.device)

    def backward(self, grad):
        x = self.inputs[0]
        return grad * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


class Maximum(Function):
    """Elementwise maximum (or minimum, with `low`)."""

    params = ("low",)
    grad_reads = ((0, 1), (0, 1))

    def forward(self, a, b):
        xp = self.backend.xp
        if a.dtype == xp.bool:
            return (a & b) if self.low else (a | b)
        return xp.minimum(a, b) if self.low else xp.maximum(a, b)

    def backward(self, grad):
        # NOTE: at ties each side gets half the gradient, as in PyTorch.
        a, b = (_data(arg) for arg in self.inputs)
        xp, dtype = self.backend.xp, grad.data.dtype
        wins = (a < b) if self.low else (a > b)
        share_a = xp.astype(wins, dtype) + 0.5 * xp.astype(a == b, dtype)
        share_a = _constant(share_a, self.backend, dtype)
        needs = self.needs_input_grad
        return (grad * share_a if needs[0] else None,
                grad * (1.0 - share_a) if needs[1] else None)


class Where(Function):
    grad_reads = ((), (0,), (0,))  # the condition, read by both gradients

    def forward(self, condition, a, b):
        return self.backend.xp.where(condition, a, b)

    def backward(self, grad):
        condition = self.inputs[0].data
        zero = self.backend.xp.zeros_like(grad.data)
        mask = _constant(condition, self.backend, None)
        needs = self.needs_input_grad
        zeros = Tensor._wrap(zero, self.backend)
        grad_a = where(mask, grad, zeros) if needs[1] else None
        grad_b = where(mask, zeros, grad) if needs[2] else None
        return None, grad_a, grad_b


class Clamp(Function):
    params = ("low", "high")
    grad_reads = ((0,),)

    def forward(self, x):
        return self.backend.xp.clip(x, self.low, self.high)

    def backward(self, grad):
        # NOTE: gradient passes where low <= x <= high, boundaries included (PyTorch).
        x = self.inputs[0].data
        inside = x == x
        if self.low is not None:
            inside = inside & (x >= self.low)
        if self.high is not None:
            inside = inside & (x <= self.high)
        return grad * _constant(inside, self.backend, x.dtype)


def _data(value):
    """A Tensor's array, or a constant as it is."""
    return value.data if isinstance(value, Tensor) else value


def _constant(array, backend, dtype) -> Tensor:
    """A non-differentiable tensor (a mask or sign) built inside a backward rule."""
    if dtype is not None and array.dtype != dtype:
        array = backend.xp.astype(array, dtype)
    return Tensor._wrap(array, backend)


def _float_input(x: Tensor, op: str) -> Tensor:
    """Integer and bool inputs of float functions become the default float (PyTorch)."""
    if x.data.dtype not in x.backend.float_dtypes:
        return cast(x, x.backend.default_float)
    return x


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x."""
    (x,) = autocast_inputs("exp", x)
    return Exp.apply(_float_input(x, "exp"))


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm (an integer input is converted to float32)."""
    (x,) = autocast_inputs("log", x)
    return Log.apply(_float_input(x, "log"))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(_float_input(x, "sqrt"))


def sin(x: Tensor) -> Tensor:
    return Sin.apply(_float_input(x, "sin"))


def cos(x: Tensor) -> Tensor:
    return Cos.apply(_float_input(x, "cos"))


def tanh(x: Tensor) -> Tensor:
    # NOTE: the float check inline (this runs per op); _float_input casts the others
    if x.data.dtype not in x.backend.float_dtypes:
        x = _float_input(x, "tanh")
    return Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    # NOTE: the float check inline (this runs per op); _float_input casts the others
    if x.data.dtype not in x.backend.float_dtypes:
        x = _float_input(x, "sigmoid")
    return Sigmoid.apply(x)


def relu(x: Tensor) -> Tensor:
    return Relu.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(x)


def erf(x: Tensor) -> Tensor:
    return Erf.apply(_float_input(x, "erf"))


def maximum(a: Tensor, b) -> Tensor:
    """Elementwise maximum with broadcasting."""
    return _binary(Maximum, a, b, "maximum", params={"low": False})


def minimum(a: Tensor, b) -> Tensor:
    """Elementwise minimum with broadcasting."""
    return _binary(Maximum, a, b, "minimum", params={"low": True})


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit values to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ConfigError("clamp: give at least one of min and max")
    return Clamp.apply(x, low=min, high=max)


@overload
def where(condition: Tensor) -> tuple[Tensor, ...]: ...
@overload
def where(condition, a, b) -> Tensor: ...
def where(condition, a=None, b=None):
    """Elementwise `a if condition else b`, with broadcasting and PyTorch's promotion;
    with the condition alone, the indices of its nonzero elements (as nonzero(as_tuple=True))."""
    if a is None and b is None:
        from gradflow.ops.sorting import nonzero

        return nonzero(condition, as_tuple=True)
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else condition
    if not isinstance(like, Tensor):
        raise TypeError("where: at least one of condition, a and b must be a tensor")
    condition = _tensorize(condition, like)
    if condition.dtype.name != "bool":
        condition = condition != 0
    a = a if isinstance(a, Tensor) or is_scalar(a) else _tensorize(a, like)
    b = b if isinstance(b, Tensor) or is_scalar(b) else _tensorize(b, like)
    dtype = result_type(a, b)
    a, b = _tensorize(a, like, dtype), _tensorize(b, like, dtype)
    try:
        return Where.apply(condition, a, b)
    except (ValueError, TypeError) as exc:
        raise reraise("where", exc, condition, a, b) from None


def _tensorize(value, like: Tensor, dtype=None) -> Tensor:
    """`value` as a tensor on `like`'s device (a scalar as a 0-d tensor), cast to `dtype`."""
    from gradflow.creation import full, tensor

    if not isinstance(value, Tensor):
        if is_scalar(value):
            value_dtype = dtype if dtype is not None else result_type(value)
            return full((), as_python_scalar(value, value_dtype), dtype=value_dtype,
                        device=like.backend)
        value = tensor(value, device=like.backend)
    return value if dtype is None or value.dtype is dtype else cast(value, dtype)
