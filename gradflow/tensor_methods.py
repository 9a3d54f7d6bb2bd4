"""Tensor's methods and operators, declared here so editors and type checkers see them.

Each is a thin delegation to the function of the same name in `gradflow.ops` (x.exp() is
gf.exp(x)); `Tensor` inherits them. The ops package is bound once it has been imported
(it imports Tensor, so this module cannot import it at the top).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradflow.dtypes import DType
    from gradflow.tensor import Tensor, Version

_ops: Any = None  # gradflow.ops, bound by gradflow.tensor after the op library is imported


def bind(ops_module) -> None:
    global _ops
    _ops = ops_module


def _size(size) -> tuple:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


class TensorMethods:
    """The method forms of gradflow's functions, and Python's operators, for Tensor."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the methods below use of Tensor (tensor.py defines them)
        data: Any
        backend: Any

        @property
        def ndim(self) -> int: ...
        @property
        def dtype(self) -> DType: ...
        @property
        def device(self) -> str: ...
        @staticmethod
        def _wrap(data, backend, requires_grad: bool = False, creator=None,
                  counter: Version | None = None, cls: type | None = None) -> Tensor: ...
        def numpy(self) -> Any: ...
        def to(self, device_or_dtype=None, dtype: DType | None = None, *,
               device=None) -> Tensor: ...
        def add_(self, other, alpha: float = 1.0) -> Tensor: ...
        def sub_(self, other, alpha: float = 1.0) -> Tensor: ...
        def mul_(self, other) -> Tensor: ...
        def div_(self, other) -> Tensor: ...

    # NOTE: the unary math methods take no arguments (nor *args/**kwargs): they run once
    # per op, and packing an empty tuple and dict costs as much as the op's bookkeeping.

    def abs(self):
        return _ops.abs(self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def tanh(self):
        return _ops.tanh(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def relu(self):
        return _ops.relu(self)

    def erf(self):
        return _ops.erf(self)

    def square(self):
        return _ops.square(self)

    def reciprocal(self):
        return _ops.reciprocal(self)

    def sign(self):
        return _ops.sign(self)

    def isfinite(self, *args, **kwargs):
        return _ops.isfinite(self, *args, **kwargs)

    def isnan(self, *args, **kwargs):
        return _ops.isnan(self, *args, **kwargs)

    def isinf(self, *args, **kwargs):
        return _ops.isinf(self, *args, **kwargs)

    def isposinf(self, *args, **kwargs):
        return _ops.isposinf(self, *args, **kwargs)

    def isneginf(self, *args, **kwargs):
        return _ops.isneginf(self, *args, **kwargs)

    def clamp(self, *args, **kwargs):
        return _ops.clamp(self, *args, **kwargs)

    def clip(self, *args, **kwargs):
        return _ops.clip(self, *args, **kwargs)

    def maximum(self, *args, **kwargs):
        return _ops.maximum(self, *args, **kwargs)

    def minimum(self, *args, **kwargs):
        return _ops.minimum(self, *args, **kwargs)

    def pow(self, *args, **kwargs):
        return _ops.pow(self, *args, **kwargs)

    def sum(self, *args, **kwargs):
        return _ops.sum(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return _ops.mean(self, *args, **kwargs)

    def var(self, *args, **kwargs):
        return _ops.var(self, *args, **kwargs)

    def std(self, *args, **kwargs):
        return _ops.std(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return _ops.max(self, *args, **kwargs)

    def min(self, *args, **kwargs):
        return _ops.min(self, *args, **kwargs)

    def amax(self, *args, **kwargs):
        return _ops.amax(self, *args, **kwargs)

    def amin(self, *args, **kwargs):
        return _ops.amin(self, *args, **kwargs)

    def argmax(self, *args, **kwargs):
        return _ops.argmax(self, *args, **kwargs)

    def argmin(self, *args, **kwargs):
        return _ops.argmin(self, *args, **kwargs)

    def logsumexp(self, *args, **kwargs):
        return _ops.logsumexp(self, *args, **kwargs)

    def all(self, *args, **kwargs):
        return _ops.all(self, *args, **kwargs)

    def any(self, *args, **kwargs):
        return _ops.any(self, *args, **kwargs)

    def norm(self, *args, **kwargs):
        return _ops.norm(self, *args, **kwargs)

    def softmax(self, *args, **kwargs):
        return _ops.softmax(self, *args, **kwargs)

    def log_softmax(self, *args, **kwargs):
        return _ops.log_softmax(self, *args, **kwargs)

    def matmul(self, *args, **kwargs):
        return _ops.matmul(self, *args, **kwargs)

    def reshape(self, *args, **kwargs):
        return _ops.reshape(self, *args, **kwargs)

    def permute(self, *args, **kwargs):
        return _ops.permute(self, *args, **kwargs)

    def transpose(self, *args, **kwargs):
        return _ops.transpose(self, *args, **kwargs)

    def flatten(self, *args, **kwargs):
        return _ops.flatten(self, *args, **kwargs)

    def squeeze(self, *args, **kwargs):
        return _ops.squeeze(self, *args, **kwargs)

    def unsqueeze(self, *args, **kwargs):
        return _ops.unsqueeze(self, *args, **kwargs)

    def expand(self, *args, **kwargs):
        return _ops.expand(self, *args, **kwargs)

    def broadcast_to(self, *args, **kwargs):
        return _ops.broadcast_to(self, *args, **kwargs)

    def split(self, *args, **kwargs):
        return _ops.split(self, *args, **kwargs)

    def chunk(self, *args, **kwargs):
        return _ops.chunk(self, *args, **kwargs)

    def sum_to(self, *args, **kwargs):
        return _ops.sum_to(self, *args, **kwargs)

    def add(self, *args, **kwargs):
        return _ops.add(self, *args, **kwargs)

    def sub(self, *args, **kwargs):
        return _ops.sub(self, *args, **kwargs)

    def mul(self, *args, **kwargs):
        return _ops.mul(self, *args, **kwargs)

    def div(self, *args, **kwargs):
        return _ops.div(self, *args, **kwargs)

    def neg(self):
        return _ops.neg(self)

    def true_divide(self, *args, **kwargs):
        return _ops.true_divide(self, *args, **kwargs)

    def multiply(self, *args, **kwargs):
        return _ops.multiply(self, *args, **kwargs)

    def subtract(self, *args, **kwargs):
        return _ops.subtract(self, *args, **kwargs)

    def divide(self, *args, **kwargs):
        return _ops.divide(self, *args, **kwargs)

    def floor_divide(self, *args, **kwargs):
        return _ops.floor_divide(self, *args, **kwargs)

    def remainder(self, *args, **kwargs):
        return _ops.remainder(self, *args, **kwargs)

    def fmod(self, *args, **kwargs):
        return _ops.fmod(self, *args, **kwargs)

    def eq(self, *args, **kwargs):
        return _ops.eq(self, *args, **kwargs)

    def ne(self, *args, **kwargs):
        return _ops.ne(self, *args, **kwargs)

    def lt(self, *args, **kwargs):
        return _ops.lt(self, *args, **kwargs)

    def le(self, *args, **kwargs):
        return _ops.le(self, *args, **kwargs)

    def gt(self, *args, **kwargs):
        return _ops.gt(self, *args, **kwargs)

    def ge(self, *args, **kwargs):
        return _ops.ge(self, *args, **kwargs)

    def isclose(self, *args, **kwargs):
        return _ops.isclose(self, *args, **kwargs)

    def allclose(self, *args, **kwargs):
        return _ops.allclose(self, *args, **kwargs)

    def logical_and(self, *args, **kwargs):
        return _ops.logical_and(self, *args, **kwargs)

    def logical_or(self, *args, **kwargs):
        return _ops.logical_or(self, *args, **kwargs)

    def logical_xor(self, *args, **kwargs):
        return _ops.logical_xor(self, *args, **kwargs)

    def logical_not(self, *args, **kwargs):
        return _ops.logical_not(self, *args, **kwargs)

    def bitwise_and(self, *args, **kwargs):
        return _ops.bitwise_and(self, *args, **kwargs)

    def bitwise_or(self, *args, **kwargs):
        return _ops.bitwise_or(self, *args, **kwargs)

    def bitwise_xor(self, *args, **kwargs):
        return _ops.bitwise_xor(self, *args, **kwargs)

    def bitwise_not(self, *args, **kwargs):
        return _ops.bitwise_not(self, *args, **kwargs)

    def bitwise_left_shift(self, *args, **kwargs):
        return _ops.bitwise_left_shift(self, *args, **kwargs)

    def bitwise_right_shift(self, *args, **kwargs):
        return _ops.bitwise_right_shift(self, *args, **kwargs)

    def floor(self, *args, **kwargs):
        return _ops.floor(self, *args, **kwargs)

    def ceil(self, *args, **kwargs):
        return _ops.ceil(self, *args, **kwargs)

    def round(self, *args, **kwargs):
        return _ops.round(self, *args, **kwargs)

    def trunc(self, *args, **kwargs):
        return _ops.trunc(self, *args, **kwargs)

    def frac(self, *args, **kwargs):
        return _ops.frac(self, *args, **kwargs)

    def tan(self, *args, **kwargs):
        return _ops.tan(self, *args, **kwargs)

    def asin(self, *args, **kwargs):
        return _ops.asin(self, *args, **kwargs)

    def acos(self, *args, **kwargs):
        return _ops.acos(self, *args, **kwargs)

    def atan(self, *args, **kwargs):
        return _ops.atan(self, *args, **kwargs)

    def atan2(self, *args, **kwargs):
        return _ops.atan2(self, *args, **kwargs)

    def arctan2(self, *args, **kwargs):
        return _ops.arctan2(self, *args, **kwargs)

    def sinh(self, *args, **kwargs):
        return _ops.sinh(self, *args, **kwargs)

    def cosh(self, *args, **kwargs):
        return _ops.cosh(self, *args, **kwargs)

    def asinh(self, *args, **kwargs):
        return _ops.asinh(self, *args, **kwargs)

    def acosh(self, *args, **kwargs):
        return _ops.acosh(self, *args, **kwargs)

    def atanh(self, *args, **kwargs):
        return _ops.atanh(self, *args, **kwargs)

    def log2(self, *args, **kwargs):
        return _ops.log2(self, *args, **kwargs)

    def log10(self, *args, **kwargs):
        return _ops.log10(self, *args, **kwargs)

    def log1p(self, *args, **kwargs):
        return _ops.log1p(self, *args, **kwargs)

    def expm1(self, *args, **kwargs):
        return _ops.expm1(self, *args, **kwargs)

    def exp2(self, *args, **kwargs):
        return _ops.exp2(self, *args, **kwargs)

    def rsqrt(self, *args, **kwargs):
        return _ops.rsqrt(self, *args, **kwargs)

    def erfc(self, *args, **kwargs):
        return _ops.erfc(self, *args, **kwargs)

    def logaddexp(self, *args, **kwargs):
        return _ops.logaddexp(self, *args, **kwargs)

    def logaddexp2(self, *args, **kwargs):
        return _ops.logaddexp2(self, *args, **kwargs)

    def hypot(self, *args, **kwargs):
        return _ops.hypot(self, *args, **kwargs)

    def copysign(self, *args, **kwargs):
        return _ops.copysign(self, *args, **kwargs)

    def lerp(self, *args, **kwargs):
        return _ops.lerp(self, *args, **kwargs)

    def xlogy(self, *args, **kwargs):
        return _ops.xlogy(self, *args, **kwargs)

    def nan_to_num(self, *args, **kwargs):
        return _ops.nan_to_num(self, *args, **kwargs)

    def clamp_min(self, *args, **kwargs):
        return _ops.clamp_min(self, *args, **kwargs)

    def clamp_max(self, *args, **kwargs):
        return _ops.clamp_max(self, *args, **kwargs)

    def prod(self, *args, **kwargs):
        return _ops.prod(self, *args, **kwargs)

    def cumsum(self, *args, **kwargs):
        return _ops.cumsum(self, *args, **kwargs)

    def cumprod(self, *args, **kwargs):
        return _ops.cumprod(self, *args, **kwargs)

    def cummax(self, *args, **kwargs):
        return _ops.cummax(self, *args, **kwargs)

    def cummin(self, *args, **kwargs):
        return _ops.cummin(self, *args, **kwargs)

    def logcumsumexp(self, *args, **kwargs):
        return _ops.logcumsumexp(self, *args, **kwargs)

    def median(self, *args, **kwargs):
        return _ops.median(self, *args, **kwargs)

    def nansum(self, *args, **kwargs):
        return _ops.nansum(self, *args, **kwargs)

    def nanmean(self, *args, **kwargs):
        return _ops.nanmean(self, *args, **kwargs)

    def count_nonzero(self, *args, **kwargs):
        return _ops.count_nonzero(self, *args, **kwargs)

    def aminmax(self, *args, **kwargs):
        return _ops.aminmax(self, *args, **kwargs)

    def sort(self, *args, **kwargs):
        return _ops.sort(self, *args, **kwargs)

    def argsort(self, *args, **kwargs):
        return _ops.argsort(self, *args, **kwargs)

    def topk(self, *args, **kwargs):
        return _ops.topk(self, *args, **kwargs)

    def kthvalue(self, *args, **kwargs):
        return _ops.kthvalue(self, *args, **kwargs)

    def unique(self, *args, **kwargs):
        return _ops.unique(self, *args, **kwargs)

    def nonzero(self, *args, **kwargs):
        return _ops.nonzero(self, *args, **kwargs)

    def msort(self, *args, **kwargs):
        return _ops.msort(self, *args, **kwargs)

    def gather(self, *args, **kwargs):
        return _ops.gather(self, *args, **kwargs)

    def scatter(self, *args, **kwargs):
        return _ops.scatter(self, *args, **kwargs)

    def scatter_add(self, *args, **kwargs):
        return _ops.scatter_add(self, *args, **kwargs)

    def scatter_reduce(self, *args, **kwargs):
        return _ops.scatter_reduce(self, *args, **kwargs)

    def index_select(self, *args, **kwargs):
        return _ops.index_select(self, *args, **kwargs)

    def index_add(self, *args, **kwargs):
        return _ops.index_add(self, *args, **kwargs)

    def index_fill(self, *args, **kwargs):
        return _ops.index_fill(self, *args, **kwargs)

    def index_copy(self, *args, **kwargs):
        return _ops.index_copy(self, *args, **kwargs)

    def masked_fill(self, *args, **kwargs):
        return _ops.masked_fill(self, *args, **kwargs)

    def masked_select(self, *args, **kwargs):
        return _ops.masked_select(self, *args, **kwargs)

    def masked_scatter(self, *args, **kwargs):
        return _ops.masked_scatter(self, *args, **kwargs)

    def take(self, *args, **kwargs):
        return _ops.take(self, *args, **kwargs)

    def take_along_dim(self, *args, **kwargs):
        return _ops.take_along_dim(self, *args, **kwargs)

    def flip(self, *args, **kwargs):
        return _ops.flip(self, *args, **kwargs)

    def fliplr(self, *args, **kwargs):
        return _ops.fliplr(self, *args, **kwargs)

    def flipud(self, *args, **kwargs):
        return _ops.flipud(self, *args, **kwargs)

    def roll(self, *args, **kwargs):
        return _ops.roll(self, *args, **kwargs)

    def rot90(self, *args, **kwargs):
        return _ops.rot90(self, *args, **kwargs)

    def tril(self, *args, **kwargs):
        return _ops.tril(self, *args, **kwargs)

    def triu(self, *args, **kwargs):
        return _ops.triu(self, *args, **kwargs)

    def diag(self, *args, **kwargs):
        return _ops.diag(self, *args, **kwargs)

    def diagonal(self, *args, **kwargs):
        return _ops.diagonal(self, *args, **kwargs)

    def diag_embed(self, *args, **kwargs):
        return _ops.diag_embed(self, *args, **kwargs)

    def trace(self, *args, **kwargs):
        return _ops.trace(self, *args, **kwargs)

    def repeat_interleave(self, *args, **kwargs):
        return _ops.repeat_interleave(self, *args, **kwargs)

    def tile(self, *args, **kwargs):
        return _ops.tile(self, *args, **kwargs)

    def unfold(self, *args, **kwargs):
        return _ops.unfold(self, *args, **kwargs)

    def unflatten(self, *args, **kwargs):
        return _ops.unflatten(self, *args, **kwargs)

    def movedim(self, *args, **kwargs):
        return _ops.movedim(self, *args, **kwargs)

    def moveaxis(self, *args, **kwargs):
        return _ops.moveaxis(self, *args, **kwargs)

    def swapaxes(self, *args, **kwargs):
        return _ops.swapaxes(self, *args, **kwargs)

    def swapdims(self, *args, **kwargs):
        return _ops.swapdims(self, *args, **kwargs)

    def narrow(self, *args, **kwargs):
        return _ops.narrow(self, *args, **kwargs)

    def tensor_split(self, *args, **kwargs):
        return _ops.tensor_split(self, *args, **kwargs)

    def expand_as(self, *args, **kwargs):
        return _ops.expand_as(self, *args, **kwargs)

    def view_as(self, *args, **kwargs):
        return _ops.view_as(self, *args, **kwargs)

    def reshape_as(self, *args, **kwargs):
        return _ops.reshape_as(self, *args, **kwargs)

    def inner(self, *args, **kwargs):
        return _ops.inner(self, *args, **kwargs)

    def dot(self, *args, **kwargs):
        return _ops.dot(self, *args, **kwargs)

    def mm(self, *args, **kwargs):
        return _ops.mm(self, *args, **kwargs)

    def bmm(self, *args, **kwargs):
        return _ops.bmm(self, *args, **kwargs)

    def addmm(self, *args, **kwargs):
        return _ops.addmm(self, *args, **kwargs)

    def cross(self, *args, **kwargs):
        return _ops.cross(self, *args, **kwargs)

    def outer(self, *args, **kwargs):
        return _ops.outer(self, *args, **kwargs)

    def tensordot(self, *args, **kwargs):
        return _ops.tensordot(self, *args, **kwargs)

    def mv(self, *args, **kwargs):
        return _ops.mv(self, *args, **kwargs)

    def index_put(self, *args, **kwargs):
        return _ops.index_put(self, *args, **kwargs)

    def argwhere(self, *args, **kwargs):
        return _ops.argwhere(self, *args, **kwargs)

    def t(self, *args, **kwargs):
        return _ops.t(self, *args, **kwargs)

    def where(self, condition, other):
        """PyTorch's method order: x.where(condition, y) is gf.where(condition, x, y)."""
        return _ops.where(condition, self, other)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A new tensor of `data`, with this tensor's dtype and device unless given."""
        from gradflow.creation import tensor

        return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        from gradflow.creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_size(size), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_full(_size(size), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def view(self, *shape):
        return _ops.reshape(self, *shape)

    def contiguous(self, *args, **kwargs):
        return self

    def repeat(self, *sizes):
        return _ops.repeat(self, *sizes)

    def type(self, dtype=None):
        """The dtype's name without an argument; else a copy converted to `dtype`
        (a gradflow dtype or its name)."""
        if dtype is None:
            return f"gradflow.{self.dtype.name}"
        if isinstance(dtype, str):
            from gradflow.dtypes import by_name

            dtype = by_name(dtype.rsplit(".", 1)[-1])
        return self.to(dtype)

    def __array__(self, dtype=None, copy=None):
        """The values as a NumPy array (NumPy 2's protocol: copy=False raises where a copy
        is needed, which is every device but the CPU)."""
        host = self.data if self.device == "cpu" else None
        if host is None:
            if copy is False:
                raise ValueError(f"__array__: a tensor on {self.device!r} cannot be seen as a "
                                 "NumPy array without a copy; use np.asarray(t) or t.numpy()")
            host = self.numpy()
        elif copy:
            host = host.copy()
        if dtype is not None and host.dtype != dtype:
            if copy is False:
                raise ValueError(f"__array__: converting {self.dtype.name} to {dtype} needs a copy")
            host = host.astype(dtype)
        return host

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """A NumPy ufunc's result on this tensor (np.exp(t)) as a tensor on its device."""
        return type(self)._wrap(self.backend.from_host(array), self.backend)

    # -- operators ------------------------------------------------------------

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __invert__(self):
        return _ops.bitwise_not(self)

    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    def __mod__(self, other):
        return _ops.remainder(self, other)

    def __rmod__(self, other):
        return _ops.remainder(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __rpow__(self, other):
        return _ops.pow(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __and__(self, other):
        return _ops.bitwise_and(self, other)

    def __rand__(self, other):
        return _ops.bitwise_and(other, self)

    def __or__(self, other):
        return _ops.bitwise_or(self, other)

    def __ror__(self, other):
        return _ops.bitwise_or(other, self)

    def __xor__(self, other):
        return _ops.bitwise_xor(self, other)

    def __rxor__(self, other):
        return _ops.bitwise_xor(other, self)

    def __lshift__(self, other):
        return _ops.bitwise_left_shift(self, other)

    def __rlshift__(self, other):
        return _ops.bitwise_left_shift(other, self)

    def __rshift__(self, other):
        return _ops.bitwise_right_shift(self, other)

    def __rrshift__(self, other):
        return _ops.bitwise_right_shift(other, self)

    def __eq__(self, other):  # elementwise, as in PyTorch
        return _ops.eq(self, other)

    def __ne__(self, other):  # elementwise, as in PyTorch
        return _ops.ne(self, other)

    def __lt__(self, other):  # elementwise, as in PyTorch
        return _ops.lt(self, other)

    def __le__(self, other):  # elementwise, as in PyTorch
        return _ops.le(self, other)

    def __gt__(self, other):  # elementwise, as in PyTorch
        return _ops.gt(self, other)

    def __ge__(self, other):  # elementwise, as in PyTorch
        return _ops.ge(self, other)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    __hash__ = object.__hash__

    @property
    def T(self):
        return _ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return _ops.transpose(self, -2, -1)
