"""The op library: one module per family. Tensor's operators and methods bind to these."""

from gradflow.ops.activation import log_softmax, softmax
from gradflow.ops.elementwise import (
    abs, add, allclose, cast, clamp, clone, cos, div, eq, erf, exp, ge, gt, isfinite, isnan, le,
    log, logical_and, logical_not, logical_or, lt, maximum, minimum, mul, ne, neg, pow, rdiv,
    reciprocal, relu, rpow, rsub, sigmoid, sign, sin, sqrt, square, sub, tanh, where,
)
from gradflow.ops.linalg import bmm, matmul
from gradflow.ops.reduce import (
    all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, norm, std, sum, sum_to, var,
)
from gradflow.ops.shape import (
    broadcast_to, cat, chunk, expand, flatten, getitem, index_put, pad, permute, reshape, split,
    squeeze, stack, transpose, unsqueeze,
)

__all__ = [name for name in dir() if not name.startswith("_")]

# Method forms on Tensor: x.exp(), x.sum(dim=1), x.reshape(2, 3), ...
TENSOR_METHODS = {
    name: globals()[name]
    for name in (
        "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "erf", "square",
        "reciprocal", "sign", "isfinite", "isnan", "clamp", "maximum", "minimum", "pow",
        "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
        "logsumexp", "all", "any", "norm", "softmax", "log_softmax", "matmul",
        "reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "expand",
        "broadcast_to", "split", "chunk", "sum_to",
    )
}
TENSOR_METHODS["view"] = reshape
TENSOR_METHODS["clip"] = clamp
TENSOR_METHODS["contiguous"] = lambda self: self
TENSOR_METHODS["expand_as"] = lambda self, other: broadcast_to(self, other.shape)
TENSOR_METHODS["reshape_as"] = lambda self, other: reshape(self, other.shape)
TENSOR_METHODS["view_as"] = TENSOR_METHODS["reshape_as"]
TENSOR_METHODS["eq"] = eq
TENSOR_METHODS["ne"] = ne
TENSOR_METHODS["lt"] = lt
TENSOR_METHODS["le"] = le
TENSOR_METHODS["gt"] = gt
TENSOR_METHODS["ge"] = ge
