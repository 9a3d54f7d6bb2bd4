"""More elementwise math: rounding, trigonometric and hyperbolic functions, logs and
exponentials in other bases, and binary functions built on them.

Primitives are one array-API call each with a derivative written in gradflow's own ops
(`_DERIVATIVES`), so second derivatives come for free; everything else is composed.
"""

from __future__ import annotations

import math

from gradflow.autograd.function import Function
from gradflow.ops import elementwise as _ew
from gradflow.ops._util import tensor_operand
from gradflow.ops.elementwise import (
    Rounded,
    SqrtOfSquares,
    _float_input,
    _operands,
    abs,
    add,
    clamp,
    cos,
    div,
    exp,
    log,
    mul,
    pow,
    reciprocal,
    sqrt,
    where,
)
from gradflow.tensor import Tensor

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


class Unary(Function):
    """y = xp.<fn>(x) with dy/dx = _DERIVATIVES[fn](x), itself made of gradflow ops."""

    params = ("fn",)
    grad_reads = ((0,),)

    def forward(self, x):
        return getattr(self.backend.xp, self.fn)(x)

    def backward(self, grad):
        return grad * _DERIVATIVES[self.fn](self.inputs[0])


_DERIVATIVES = {
    "tan": lambda x: reciprocal(cos(x) * cos(x)),
    "asin": lambda x: rsqrt(1.0 - x * x),
    "acos": lambda x: -rsqrt(1.0 - x * x),
    "atan": lambda x: reciprocal(1.0 + x * x),
    "sinh": lambda x: cosh(x),
    "cosh": lambda x: sinh(x),
    "asinh": lambda x: rsqrt(x * x + 1.0),
    "acosh": lambda x: rsqrt(x * x - 1.0),
    "atanh": lambda x: reciprocal(1.0 - x * x),
    "log1p": lambda x: reciprocal(x + 1.0),
    "expm1": lambda x: exp(x),
}


def _unary(name: str, x: Tensor) -> Tensor:
    return Unary.apply(_float_input(x, name), fn=name)


def tan(x: Tensor) -> Tensor:
    return _unary("tan", x)


def asin(x: Tensor) -> Tensor:
    return _unary("asin", x)


def acos(x: Tensor) -> Tensor:
    return _unary("acos", x)


def atan(x: Tensor) -> Tensor:
    return _unary("atan", x)


def sinh(x: Tensor) -> Tensor:
    return _unary("sinh", x)


def cosh(x: Tensor) -> Tensor:
    return _unary("cosh", x)


def asinh(x: Tensor) -> Tensor:
    return _unary("asinh", x)


def acosh(x: Tensor) -> Tensor:
    return _unary("acosh", x)


def atanh(x: Tensor) -> Tensor:
    return _unary("atanh", x)


def log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x."""
    return _unary("log1p", x)


def expm1(x: Tensor) -> Tensor:
    """exp(x) - 1, accurate for small x."""
    return _unary("expm1", x)


def log2(x: Tensor) -> Tensor:
    return log(x) * (1.0 / _LN2)


def log10(x: Tensor) -> Tensor:
    return log(x) * (1.0 / _LN10)


def exp2(x: Tensor) -> Tensor:
    """2 ** x."""
    return pow(2.0, _float_input(x, "exp2"))


def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x)."""
    return reciprocal(sqrt(x))


def erfc(x: Tensor) -> Tensor:
    """1 - erf(x)."""
    return 1.0 - _ew.erf(x)


# -- rounding: piecewise constant, gradient 0 (PyTorch) --------------------------------


def _rounding(name: str, x: Tensor, fn) -> Tensor:
    if not x.dtype.is_floating_point:
        return x  # integers are already whole
    return Rounded.apply(x, fn=fn)


def floor(x: Tensor) -> Tensor:
    return _rounding("floor", x, lambda xp, a: xp.floor(a))


def ceil(x: Tensor) -> Tensor:
    return _rounding("ceil", x, lambda xp, a: xp.ceil(a))


def trunc(x: Tensor) -> Tensor:
    return _rounding("trunc", x, lambda xp, a: xp.trunc(a))


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round half to even, to `decimals` decimal places."""
    if decimals == 0:
        return _rounding("round", x, lambda xp, a: xp.round(a))
    scale = 10.0 ** decimals
    return _rounding("round", x, lambda xp, a: xp.round(a * scale) / scale)


def frac(x: Tensor) -> Tensor:
    """x - trunc(x): the fractional part, with the sign of x."""
    return x - trunc(x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 (bools stay bools); gradient 0."""
    if x.dtype.name == "bool":
        return x
    return Rounded.apply(x, fn=lambda xp, a: xp.sign(a))


# -- binary --------------------------------------------------------------------------


class Atan2(Function):
    grad_reads = ((0, 1), (0, 1))

    def forward(self, y, x):
        return self.backend.xp.atan2(y, x)

    def backward(self, grad):
        y, x = self.inputs
        scale = grad / (x * x + y * y)
        needs = self.needs_input_grad
        return (scale * x if needs[0] else None), (-(scale * y) if needs[1] else None)


def atan2(y, x) -> Tensor:
    """The angle of the point (x, y), in (-pi, pi]."""
    y, x = _operands(y, x, "atan2", floating=True)
    return Atan2.apply(_ew._tensorize(y, tensor_operand(x, y, "atan2")), x)


class LogAddExp(Function):
    """log(exp(a) + exp(b)) computed as max(a, b) + log1p(exp(-|a - b|)), which cannot
    overflow; the gradients are sigmoid(a - b) and sigmoid(b - a), smooth at a == b."""

    grad_reads = ((0, 1), (0, 1))

    def forward(self, a, b):
        xp = self.backend.xp
        top = xp.maximum(a, b)
        gap = xp.abs(a - b)
        gap = xp.where(xp.isnan(gap), xp.zeros_like(gap), gap)  # a == b == +-inf
        return top + xp.log1p(xp.exp(-gap))

    def backward(self, grad):
        a, b = self.inputs
        needs = self.needs_input_grad
        return (grad * _ew.sigmoid(a - b) if needs[0] else None,
                grad * _ew.sigmoid(b - a) if needs[1] else None)


def logaddexp(a, b) -> Tensor:
    """log(exp(a) + exp(b)) without overflow."""
    a, b = _operands(a, b, "logaddexp", floating=True)
    like = tensor_operand(a, b, "logaddexp")
    return LogAddExp.apply(_ew._tensorize(a, like), _ew._tensorize(b, like))


def logaddexp2(a, b) -> Tensor:
    """log2(2 ** a + 2 ** b)."""
    a, b = _operands(a, b, "logaddexp2", floating=True)
    like = tensor_operand(a, b, "logaddexp2")  # a scalar operand becomes a tensor like it
    a, b = _ew._tensorize(a, like), _ew._tensorize(b, like)
    return logaddexp(mul(a, _LN2), mul(b, _LN2)) * (1.0 / _LN2)


def hypot(a, b) -> Tensor:
    """sqrt(a ** 2 + b ** 2); gradient 0 at the origin."""
    a, b = _operands(a, b, "hypot", floating=True)
    like = tensor_operand(a, b, "hypot")  # a scalar operand becomes a tensor like it
    a, b = _ew._tensorize(a, like), _ew._tensorize(b, like)
    return SqrtOfSquares.apply(add(mul(a, a), mul(b, b)))


def copysign(a, b) -> Tensor:
    """|a| with the sign of b (of its sign bit: -0.0 counts as negative)."""
    a, b = _operands(a, b, "copysign", floating=True)
    like = tensor_operand(a, b, "copysign")
    b = _ew._tensorize(b, like)
    negative = Tensor._wrap(b.backend.xp.signbit(b.data), b.backend)
    magnitude = abs(_ew._tensorize(a, like))
    return where(negative, -magnitude, magnitude)


def lerp(start: Tensor, end, weight) -> Tensor:
    """start + weight * (end - start)."""
    return add(start, mul(weight, _ew.sub(end, start)))


def xlogy(x, y) -> Tensor:
    """x * log(y), taken as 0 where x == 0 (even for y == 0)."""
    x, y = _operands(x, y, "xlogy", floating=True)
    like = tensor_operand(x, y, "xlogy")
    x, y = _ew._tensorize(x, like), _ew._tensorize(y, like)
    return where(x == 0, 0.0, x * log(y))


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN -> nan, +inf -> posinf, -inf -> neginf (by default the dtype's extremes)."""
    if not x.dtype.is_floating_point:
        return x
    info = x.backend.xp.finfo(x.data.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    xp = x.backend.xp
    out = where(Tensor._wrap(xp.isnan(x.data), x.backend), nan, x)
    out = where(Tensor._wrap(xp.isinf(x.data) & (x.data > 0), x.backend), posinf, out)
    return where(Tensor._wrap(xp.isinf(x.data) & (x.data < 0), x.backend), neginf, out)


def clamp_min(x: Tensor, min) -> Tensor:  # noqa: A002
    return clamp(x, min=min)


def clamp_max(x: Tensor, max) -> Tensor:  # noqa: A002
    return clamp(x, max=max)


# -- PyTorch's and NumPy's other names -------------------------------------------------


def true_divide(a, b) -> Tensor:
    return div(a, b)


def divide(a, b, *, rounding_mode: str | None = None) -> Tensor:
    return div(a, b, rounding_mode=rounding_mode)


def multiply(a, b) -> Tensor:
    return mul(a, b)


def subtract(a, b, *, alpha=1) -> Tensor:
    return _ew.sub(a, b, alpha=alpha)


def arctan2(y, x) -> Tensor:
    return atan2(y, x)


def clip(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    return clamp(x, min, max)


__all__ = [
    "acos", "acosh", "arctan2", "asin", "asinh", "atan", "atan2", "atanh", "ceil", "clamp_max",
    "clamp_min", "clip", "copysign", "cosh", "divide", "erfc", "exp2", "expm1", "floor", "frac",
    "hypot", "lerp", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "multiply",
    "nan_to_num", "round", "rsqrt", "sign", "sinh", "subtract", "tan", "true_divide", "trunc",
    "xlogy",
]
