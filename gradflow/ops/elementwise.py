"""Elementwise ops: arithmetic, unary math, comparisons, casts and device transfers.

Each primitive is its forward and its local derivative side by side; composite
ops (sub, rsub, square, ...) are one line built from primitives.
"""

from __future__ import annotations

import math

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function, mismatch_error
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.errors import ConfigError, DTypeError
from gradflow.ops._util import SCALARS, as_tensor_like, promote, reraise
from gradflow.tensor import Tensor

# -- arithmetic ---------------------------------------------------------------


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        needs = self.needs_input_grad
        return (grad if needs[0] else None), (grad if needs[1] else None)


class Mul(Function):
    saves_inputs = True
    reads_for = ((1,), (0,))  # a is read only for b's gradient, b only for a's

    def forward(self, a, b):
        return a * b

    def backward(self, grad):
        a, b = self.inputs
        needs = self.needs_input_grad
        if not _grad_state.enabled:
            g, backend = grad.data, self.backend
            return (Mul.evaluate(backend, g, _data(b)) if needs[0] else None,
                    Mul.evaluate(backend, g, _data(a)) if needs[1] else None)
        return (grad * b if needs[0] else None), (grad * a if needs[1] else None)


class Div(Function):
    saves_inputs = True
    reads_for = ((1,), (0, 1))

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
        if not _grad_state.enabled:
            return Neg.evaluate(self.backend, grad.data)
        return -grad


class PowScalar(Function):
    """x ** exponent for a constant exponent."""

    saves_inputs = True

    def forward(self, x):
        return x ** self.exponent

    def backward(self, grad):
        (x,) = self.inputs
        e = self.exponent
        if e == 2:
            return grad * (x * 2.0)
        return grad * (x ** (e - 1) * e)


def _binary(cls, a, b, op: str):
    if not isinstance(b, Tensor):
        if type(b) is float:
            if a.data.dtype not in a.backend.float_dtypes:
                a = cast(a, a.backend.default_float)
        elif not isinstance(b, SCALARS):
            b = as_tensor_like(b, a)
    elif b.backend is not a.backend:
        raise mismatch_error(op, (a, b))
    elif a.data.dtype != b.data.dtype:
        a, b = promote(a, b)
    try:
        return cls.apply(a, b)
    except (ValueError, TypeError) as exc:
        raise reraise(op, exc, a, b) from None


def add(a: Tensor, b) -> Tensor:
    """a + b with broadcasting.

    Example:
        >>> gf.add(gf.ones(2), 1.0).tolist()
        [2.0, 2.0]
    """
    return _binary(Add, a, b, "add")


def mul(a: Tensor, b) -> Tensor:
    """a * b with broadcasting."""
    return _binary(Mul, a, b, "mul")


def div(a: Tensor, b) -> Tensor:
    """a / b with broadcasting (true division)."""
    if type(b) is float or type(b) is int:
        if a.data.dtype in a.backend.float_dtypes:
            return Div.apply(a, float(b))
    return _binary(Div, a, b, "div")


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


def sub(a: Tensor, b) -> Tensor:
    """a - b, as a + (-b)."""
    if isinstance(b, SCALARS):
        return add(a, -b)
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    return add(a, neg(b))


def rsub(a: Tensor, b) -> Tensor:
    """b - a for a scalar or array b."""
    return add(neg(a), b)


def rdiv(a: Tensor, b) -> Tensor:
    """b / a for a scalar or array b."""
    if isinstance(b, SCALARS):
        if a.data.dtype not in a.backend.float_dtypes:
            a = cast(a, a.backend.default_float)
        return Div.apply(float(b), a)
    return div(as_tensor_like(b, a), a)


def pow(x: Tensor, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """x ** exponent; a tensor exponent goes through exp(exponent * log(x))."""
    x, exponent = autocast_inputs("pow", x, exponent)
    if isinstance(exponent, SCALARS):
        if x.data.dtype not in x.backend.float_dtypes:
            x = cast(x, x.backend.default_float)
        return PowScalar.apply(x, exponent=exponent)
    if not isinstance(exponent, Tensor):
        exponent = as_tensor_like(exponent, x)
    return exp(mul(log(x), exponent))


def rpow(x: Tensor, base) -> Tensor:
    """base ** x for a scalar base, as exp(x * log(base))."""
    return exp(mul(x, math.log(base)))


def square(x: Tensor) -> Tensor:
    return PowScalar.apply(x, exponent=2)


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
    saves_inputs = True

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


class Sin(Function):
    saves_inputs = True

    def forward(self, x):
        return self.backend.xp.sin(x)

    def backward(self, grad):
        return grad * cos(self.inputs[0])


class Cos(Function):
    saves_inputs = True

    def forward(self, x):
        return self.backend.xp.cos(x)

    def backward(self, grad):
        return grad * -sin(self.inputs[0])


class Tanh(Function):
    saves_output = True

    def forward(self, x):
        return self.backend.xp.tanh(x)

    def backward(self, grad):
        if not _grad_state.enabled:
            return TanhBackward.evaluate(self.backend, grad.data, self.out_data)
        return TanhBackward.apply(grad, self.output)


class TanhBackward(Function):
    """tanh's gradient from its output y, grad * (1 - y * y), as one op."""

    saves_inputs = True
    reads_for = ((1,), (0, 1))

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
        if not _grad_state.enabled:
            return SigmoidBackward.evaluate(self.backend, grad.data, self.out_data)
        return SigmoidBackward.apply(grad, self.output)


class SigmoidBackward(Function):
    """sigmoid's gradient from its output y, grad * y * (1 - y), as one op."""

    saves_inputs = True
    reads_for = ((1,), (0, 1))

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
        if not _grad_state.enabled:
            return ReluBackward.evaluate(self.backend, grad.data, self.out_data)
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
    saves_inputs = True

    def forward(self, x):
        return self.backend.xp.abs(x)

    def backward(self, grad):
        # NOTE: sign(0) = 0, so abs has gradient 0 at 0 (PyTorch's choice).
        x = self.inputs[0].data
        return grad * _constant(self.backend.xp.sign(x), self.backend, x.dtype)


class Erf(Function):
    saves_inputs = True

    def forward(self, x):
        # NOTE: the array API has no erf. This is the Chebyshev fit of erfc
        # (Numerical Recipes' erfcc): relative error below 1.2e-7 everywhere,
        # which is float32 rounding; float64 results carry that error too.
        xp = self.backend.xp
        z = xp.abs(x)
        t = 1.0 / (1.0 + 0.5 * z)
        poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
            0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
                1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
        erfc = t * xp.exp(poly)
        return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0)

    def backward(self, grad):
        x = self.inputs[0]
        return grad * (exp(-(x * x)) * (2.0 / math.sqrt(math.pi)))


class Maximum(Function):
    saves_inputs = True

    def forward(self, a, b):
        return self.backend.xp.maximum(a, b)

    def backward(self, grad):
        # NOTE: at ties each side gets half the gradient, as in PyTorch.
        a, b = (arg.data for arg in self.inputs)
        xp, dtype = self.backend.xp, grad.data.dtype
        share_a = xp.astype(a > b, dtype) + 0.5 * xp.astype(a == b, dtype)
        share_a = _constant(share_a, self.backend, dtype)
        needs = self.needs_input_grad
        return (grad * share_a if needs[0] else None), (grad * (1.0 - share_a) if needs[1] else None)


class Where(Function):
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
    saves_inputs = True

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
    if x.data.dtype not in x.backend.float_dtypes:
        if x.dtype.name == "bool":
            raise DTypeError(f"{op}: not defined for bool tensors")
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
    return Tanh.apply(_float_input(x, "tanh"))


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(_float_input(x, "sigmoid"))


def relu(x: Tensor) -> Tensor:
    return Relu.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(x)


def erf(x: Tensor) -> Tensor:
    return Erf.apply(_float_input(x, "erf"))


def maximum(a: Tensor, b) -> Tensor:
    """Elementwise maximum with broadcasting."""
    return _binary(Maximum, a, b, "maximum")


def minimum(a: Tensor, b) -> Tensor:
    """Elementwise minimum, as -maximum(-a, -b)."""
    return neg(maximum(neg(a), -b if isinstance(b, SCALARS) else neg(_tensorize(b, a))))


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit values to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ConfigError("clamp: give at least one of min and max")
    return Clamp.apply(x, low=min, high=max)


def where(condition: Tensor, a, b) -> Tensor:
    """Elementwise `a if condition else b`, with broadcasting."""
    like = a if isinstance(a, Tensor) else b
    if not isinstance(like, Tensor):
        raise TypeError("where: at least one of a and b must be a tensor")
    condition = _tensorize(condition, like)
    a, b = _tensorize(a, like), _tensorize(b, like)
    if a.dtype is not b.dtype:  # gradflow dtypes: comparable across devices
        a, b = promote(a, b)
    try:
        return Where.apply(condition, a, b)
    except (ValueError, TypeError) as exc:
        raise reraise("where", exc, condition, a, b) from None


def _tensorize(value, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    from gradflow.creation import full, tensor

    if isinstance(value, SCALARS):
        dtype = like.dtype if not (type(value) is float and not like.dtype.is_floating_point) else None
        return full((), value, dtype=dtype, device=like.backend)
    return tensor(value, device=like.backend)


# -- copies, casts and transfers --------------------------------------------------


class Clone(Function):
    def forward(self, x):
        return self.backend.xp.asarray(x, copy=True)

    def backward(self, grad):
        return grad


class Cast(Function):
    def forward(self, x):
        self.source = x.dtype
        return self.backend.xp.astype(x, self.target)

    def backward(self, grad):
        return Cast.apply(grad, target=self.source)


class Transfer(Function):
    """Copy to another device; the gradient goes back to the source device."""

    def forward(self, x):
        return self.target.from_host(self.backend.to_host(x))

    def backward(self, grad):
        return transfer(grad, self.backend)


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)


def cast(x: Tensor, dtype) -> Tensor:
    """Convert to a gradflow dtype (differentiable between float dtypes)."""
    target = x.backend.xp_dtype(dtype)
    if x.data.dtype == target:
        return x
    out = Cast.apply(x, target=target)
    if not dtype.is_floating_point and out.requires_grad:
        out.requires_grad, out.creator = False, None
    return out


def transfer(x: Tensor, target) -> Tensor:
    out = Transfer.apply(x, target=target)
    out.backend = target
    return out


# -- comparisons and logic (not differentiable) -------------------------------------


def _compare(fn, a: Tensor, b, op: str) -> Tensor:
    other = b.data if isinstance(b, Tensor) else b
    if isinstance(b, Tensor) and b.backend is not a.backend:
        from gradflow.autograd.function import mismatch_error

        raise mismatch_error(op, (a, b))
    if isinstance(b, Tensor) and a.data.dtype != b.data.dtype:
        a, b = promote(a, b)
        other = b.data
    elif not isinstance(b, (Tensor, *SCALARS)):
        other = as_tensor_like(b, a).data
    try:
        return Tensor._wrap(fn(a.data, other), a.backend)
    except (ValueError, TypeError) as exc:
        raise reraise(op, exc, a, b) from None


def eq(a, b):
    return _compare(lambda x, y: x == y, a, b, "eq")


def ne(a, b):
    return _compare(lambda x, y: x != y, a, b, "ne")


def lt(a, b):
    return _compare(lambda x, y: x < y, a, b, "lt")


def le(a, b):
    return _compare(lambda x, y: x <= y, a, b, "le")


def gt(a, b):
    return _compare(lambda x, y: x > y, a, b, "gt")


def ge(a, b):
    return _compare(lambda x, y: x >= y, a, b, "ge")


def logical_and(a, b):
    return _compare(lambda x, y: x & y, a, b, "logical_and")


def logical_or(a, b):
    return _compare(lambda x, y: x | y, a, b, "logical_or")


def logical_not(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.logical_not(x.data), x.backend)


def isfinite(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.isfinite(x.data), x.backend)


def isnan(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.isnan(x.data), x.backend)


def sign(x: Tensor) -> Tensor:
    return Tensor._wrap(x.backend.xp.sign(x.data), x.backend)


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    xp = a.backend.xp
    return bool(xp.all(xp.abs(a.data - b.data) <= atol + rtol * xp.abs(b.data)))
