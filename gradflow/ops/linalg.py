"""Matrix products."""

from __future__ import annotations

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.errors import ShapeError
from gradflow.ops._util import promote
from gradflow.tensor import Tensor


class MatMul(Function):
    saves_inputs = True
    reads_for = ((1,), (0,))  # a is read only for b's gradient, b only for a's

    def forward(self, a, b):
        return self.backend.matmul(a, b)

    def backward(self, grad):
        from gradflow.ops.shape import reshape, transpose, unsqueeze

        a, b = self.inputs
        needs = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:
            return (grad * b if needs[0] else None), (grad * a if needs[1] else None)
        a2 = unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = unsqueeze(b, -1) if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = unsqueeze(g2, -2)
        if b.ndim == 1:
            g2 = unsqueeze(g2, -1)
        grad_a = grad_b = None
        if needs[0]:
            grad_a = matmul(g2, transpose(b2, -1, -2))
            if a.ndim == 1:
                grad_a = reshape(grad_a, (*grad_a.shape[:-2], grad_a.shape[-1]))
        if needs[1]:
            grad_b = matmul(transpose(a2, -1, -2), g2)
            if b.ndim == 1:
                grad_b = reshape(grad_b, grad_b.shape[:-1])
        return grad_a, grad_b  # the engine sums broadcast batch dimensions away


class Linear(Function):
    """x @ weight.T + bias as one op: the weight's gradient comes out in the weight's own
    (out, in) layout, contiguous, rather than as a transposed view."""

    saves_inputs = True
    reads_for = ((1,), (0,), ())

    def forward(self, x, weight, bias):
        xp = self.backend.xp
        out = self.backend.matmul(x, xp.permute_dims(weight, (1, 0)))
        if bias is None:
            return out
        if self.backend.inplace:
            out += bias
            return out
        return out + bias

    def backward(self, grad):
        from gradflow.ops.reduce import sum as total
        from gradflow.ops.shape import reshape, transpose

        x, weight, bias = self.inputs
        needs = self.needs_input_grad
        if not _grad_state.enabled:  # nothing recorded: the same products on arrays
            return _linear_grads(self.backend, grad.data, x.data, weight.data, needs)
        grad_x = matmul(grad, weight) if needs[0] else None
        grad_w = grad_b = None
        if needs[1]:
            rows = reshape(grad, (-1, weight.shape[0]))
            grad_w = matmul(transpose(rows, 0, 1), reshape(x, (-1, weight.shape[1])))
        if needs[2]:
            grad_b = total(grad, tuple(range(grad.ndim - 1))) if grad.ndim > 1 else grad
        return grad_x, grad_w, grad_b


def _linear_grads(backend, grad, x, weight, needs):
    """Linear.backward's gradients as Tensors, computed on arrays (nothing recorded)."""
    xp = backend.xp
    wrap = Tensor._wrap
    grad_x = wrap(backend.matmul(grad, weight), backend) if needs[0] else None
    grad_w = grad_b = None
    if needs[1]:
        rows = xp.reshape(grad, (-1, weight.shape[0]))
        grad_w = wrap(backend.matmul(xp.permute_dims(rows, (1, 0)),
                                     xp.reshape(x, (-1, weight.shape[1]))), backend)
    if needs[2]:
        lead = tuple(range(grad.ndim - 1))
        grad_b = wrap(xp.sum(grad, axis=lead) if lead else grad, backend)
    return grad_x, grad_w, grad_b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias for x of shape (..., in) and weight of shape (out, in)."""
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1] or (
            bias is not None and bias.shape != (weight.shape[0],)):
        raise ShapeError(
            f"linear: input of shape {x.shape} does not fit a weight of shape {weight.shape}"
            + ("" if bias is None else f" and a bias of shape {bias.shape}")
            + f" (the last input dimension must be {weight.shape[1]}, the bias "
            f"({weight.shape[0]},))")
    x, weight, bias = autocast_inputs("linear", x, weight, bias)
    if x.dtype != weight.dtype:
        x, weight = promote(x, weight)
    if bias is not None and bias.dtype != weight.dtype:
        bias, weight = promote(bias, weight)
        x, weight = promote(x, weight)
    return Linear.apply(x, weight, bias)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: vectors, batches and broadcast batch dimensions.

    Example:
        >>> (gf.ones(2, 3) @ gf.ones(3)).tolist()
        [3.0, 3.0]
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        from gradflow.ops._util import as_tensor_like

        a = a if isinstance(a, Tensor) else as_tensor_like(a, b)
        b = b if isinstance(b, Tensor) else as_tensor_like(b, a)
    if a.backend is not b.backend:
        from gradflow.autograd.function import mismatch_error

        raise mismatch_error("matmul", (a, b))
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: needs at least 1-d inputs, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not multiply ({k_a} != {k_b})"
        )
    a, b = autocast_inputs("matmul", a, b)
    if a.data.dtype != b.data.dtype:
        a, b = promote(a, b)
    try:
        return MatMul.apply(a, b)
    except ValueError as exc:
        raise ShapeError(f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast "
                         f"({exc})") from None


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of (B, n, k) and (B, k, m) tensors (no broadcasting).

    Example:
        >>> gf.bmm(gf.ones(2, 3, 4), gf.ones(2, 4, 5)).shape
        (2, 3, 5)
    """
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: expects (B, n, k) and (B, k, m) tensors, got shapes {a.shape} "
                         f"and {b.shape}")
    a, b = autocast_inputs("bmm", a, b)
    return matmul(a, b)
