"""Matrix products."""

from __future__ import annotations

from collections.abc import Sequence

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function, mismatch_error
from gradflow.errors import ConfigError, ShapeError
from gradflow.ops._util import as_tensor_like, broadcast_shapes, normalize_dim, promote
from gradflow.ops.elementwise import abs as absolute
from gradflow.ops.reduce import Sum, _dims, amax, amin, norm
from gradflow.ops.reduce import sum as total
from gradflow.ops.shape import (
    Permute,
    Reshape,
    broadcast_to,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    unsqueeze,
)
from gradflow.tensor import Tensor


def _swap_last_two(ndim: int) -> tuple[int, ...]:
    return (*range(ndim - 2), ndim - 1, ndim - 2)


class MatMul(Function):
    grad_reads = ((1,), (0,))  # a's gradient reads b, b's reads a

    def forward(self, a, b):
        return self.backend.matmul(a, b)

    def backward(self, grad):

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
        # NOTE: the op classes, not the checked public functions: shapes are known good
        grad_a = grad_b = None
        if needs[0]:
            grad_a = MatMul.apply(g2, Permute.apply(b2, dims=_swap_last_two(b2.ndim)))
            if a.ndim == 1:
                grad_a = reshape(grad_a, (*grad_a.shape[:-2], grad_a.shape[-1]))
        if needs[1]:
            grad_b = MatMul.apply(Permute.apply(a2, dims=_swap_last_two(a2.ndim)), g2)
            if b.ndim == 1:
                grad_b = reshape(grad_b, grad_b.shape[:-1])
        return grad_a, grad_b  # the engine sums broadcast batch dimensions away


class Linear(Function):
    """x @ weight.T + bias as one op: the weight's gradient comes out in the weight's own
    (out, in) layout, contiguous, rather than as a transposed view."""

    grad_reads = ((1,), (0,), ())  # x's gradient reads the weight, the weight's reads x

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
        # NOTE: the op classes themselves, not the checked public functions: shapes and
        # dtypes are known good here, and this runs for every layer of every step.
        x, weight, bias = self.inputs
        needs = self.needs_input_grad
        grad_x = MatMul.apply(grad, weight) if needs[0] else None
        grad_w = grad_b = None
        if needs[1]:
            rows = grad if grad.ndim == 2 else Reshape.apply(grad, shape=(-1, weight.shape[0]))
            xs = x if x.ndim == 2 else Reshape.apply(x, shape=(-1, weight.shape[1]))
            grad_w = MatMul.apply(Permute.apply(rows, dims=(1, 0)), xs)
        if needs[2]:
            grad_b = (Sum.apply(grad, dims=tuple(range(grad.ndim - 1)), keepdim=False)
                      if grad.ndim > 1 else grad)
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

        a = a if isinstance(a, Tensor) else as_tensor_like(a, b)
        b = b if isinstance(b, Tensor) else as_tensor_like(b, a)
    if a.backend is not b.backend:

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


# -- products composed from matmul -------------------------------------------------------


def _shape_error(op: str, message: str, *tensors) -> ShapeError:
    shapes = " and ".join(str(t.shape) for t in tensors)
    return ShapeError(f"{op}: {message} (shapes {shapes})")


def mm(a: Tensor, b: Tensor) -> Tensor:
    """The product of two matrices."""
    if a.ndim != 2 or b.ndim != 2:
        raise _shape_error("mm", "expects two matrices", a, b)
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix products of (b, n, m) and (b, m, p) tensors."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise _shape_error("bmm", "expects two 3-d tensors with the same batch size", a, b)
    a, b = autocast_inputs("bmm", a, b)
    return matmul(a, b)


def mv(a: Tensor, v: Tensor) -> Tensor:
    """A matrix times a vector."""
    if a.ndim != 2 or v.ndim != 1:
        raise _shape_error("mv", "expects a matrix and a vector", a, v)
    return matmul(a, v)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The inner product of two 1-d tensors."""
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise _shape_error("dot", "expects two 1-d tensors of the same size", a, b)
    return matmul(a, b)


def addmm(input: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:  # noqa: A002
    """beta * input + alpha * (a @ b)."""
    product = mm(a, b)
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input is ignored, NaNs included (PyTorch)

        return broadcast_to(product, _broadcast(product, input))
    return product + (input if beta == 1 else input * beta)


def _broadcast(a: Tensor, b: Tensor) -> tuple:

    return broadcast_shapes("addmm", a.shape, b.shape)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """a[i] * b[j] for 1-d a and b."""

    if a.ndim != 1 or b.ndim != 1:
        raise _shape_error("outer", "expects two 1-d tensors", a, b)
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def inner(a: Tensor, b: Tensor) -> Tensor:
    """The sum over the last dimensions of a and b (a product for 0-d inputs)."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def tensordot(a: Tensor, b: Tensor,
              dims: int | tuple[int | Sequence[int], int | Sequence[int]] = 2) -> Tensor:
    """Contract the last `dims` dimensions of a with the first of b, or the listed pairs."""

    if isinstance(dims, int):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise _shape_error("tensordot", f"cannot contract {dims} dimensions", a, b)
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [d % a.ndim for d in dims_a]
    dims_b = [d % b.ndim for d in dims_b]
    if len(dims_a) != len(dims_b) or any(a.shape[i] != b.shape[j] for i, j in zip(dims_a, dims_b)):
        raise _shape_error("tensordot", f"dimensions {dims_a} and {dims_b} do not match", a, b)
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = 1
    for d in dims_a:
        k *= a.shape[d]
    left = reshape(permute(a, (*free_a, *dims_a)), (-1, k))
    right = reshape(permute(b, (*dims_b, *free_b)), (k, -1))
    return reshape(matmul(left, right), (*(a.shape[d] for d in free_a),
                                         *(b.shape[d] for d in free_b)))


def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along dim (the first dimension of size 3 by default)."""

    shape = broadcast_shapes("cross", a.shape, b.shape)
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise _shape_error("cross", "no dimension of size 3", a, b)
    dim = normalize_dim(dim, len(shape), "cross")
    if shape[dim] != 3:
        raise _shape_error("cross", f"dimension {dim} has size {shape[dim]}, not 3", a, b)
    prefix = (slice(None),) * dim

    def part(t, i):
        return getitem(t, (*prefix, i))

    a0, a1, a2 = (part(a, i) for i in range(3))
    b0, b1, b2 = (part(b, i) for i in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim)


def einsum(subscripts: str, *operands) -> Tensor:
    """Einstein summation, any subscripts (repeated letters take diagonals, '...' stands for
    broadcast dimensions), lowered to diagonals, sums, permutes and matmuls.

    Example:
        >>> gf.einsum("ij,jk->ik", gf.ones(2, 3), gf.ones(3, 4)).shape
        (2, 4)
    """
    from gradflow.ops.einsum import contract

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return contract(subscripts, operands)


# -- norms (gradflow.linalg) ---------------------------------------------------------------


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The `ord`-norm of x as one vector (or over `dim`): 2, inf, -inf, 0 or any p."""

    if dtype is not None:
        x = x.to(dtype)
    elif not x.dtype.is_floating_point:
        x = x.float()
    dims = _dims(dim, x, "vector_norm")
    if ord == float("inf"):
        return amax(absolute(x), dims, keepdim)
    if ord == float("-inf"):
        return amin(absolute(x), dims, keepdim)
    if ord == 0:
        return total(x != 0, dims, keepdim).to(x.dtype)
    return norm(x, float(ord), dims, keepdim)


def matrix_norm(x: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """The Frobenius norm ("fro") or the largest/smallest absolute column (1, -1) or row
    (inf, -inf) sum of the matrices in dims `dim`."""

    if x.ndim < 2:
        raise ShapeError(f"matrix_norm: expects at least 2 dimensions, got shape {x.shape}")
    if dtype is not None:
        x = x.to(dtype)
    rows, cols = (normalize_dim(d, x.ndim, "matrix_norm") for d in dim)
    if ord == "fro":
        return vector_norm(x, 2, (rows, cols), keepdim)
    sums = {1: (rows, cols), -1: (rows, cols), float("inf"): (cols, rows),
            float("-inf"): (cols, rows)}
    if ord not in sums:
        raise ConfigError(f"matrix_norm: ord must be 'fro', 1, -1, inf or -inf, got {ord!r} "
                          "('nuc' and 2 need singular values, which gradflow does not compute)")
    summed, kept = sums[ord]
    per_line = total(absolute(x), summed, keepdim=True)
    pick = amax if ord in (1, float("inf")) else amin
    out = pick(per_line, kept, keepdim=True)
    if not keepdim:

        out = squeeze(out, (rows, cols))
    return out
