"""The op library: one module per family. Tensor's operators and methods bind to these."""

from gradflow.ops.activation import log_softmax, softmax
from gradflow.ops.compare import (
    allclose, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift,
    bitwise_xor, eq, ge, gt, isclose, isfinite, isinf, isnan, isneginf, isposinf, le,
    logical_and, logical_not, logical_or, logical_xor, lt, ne,
)
from gradflow.ops.elementwise import (
    abs, add, cast, clamp, clone, cos, div, erf, exp, floor_divide, fmod, log, maximum, minimum,
    mul, neg, pow, rdiv, reciprocal, relu, remainder, rpow, rsub, sigmoid, sin, sqrt, square, sub,
    tanh, where,
)
from gradflow.ops.linalg import matmul
from gradflow.ops.reduce import (
    all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, norm, std, sum, sum_to, var,
)
from gradflow.ops.shape import (
    broadcast_to, cat, chunk, expand, flatten, getitem, index_put, pad, permute, reshape, split,
    squeeze, stack, transpose, unsqueeze,
)

__all__ = [name for name in dir() if not name.startswith("_")]
