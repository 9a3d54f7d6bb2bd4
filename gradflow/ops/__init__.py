"""The op library: one module per family. Tensor's operators and methods bind to these.

`__all__` is declared, not computed: a name is public when it is listed here.
"""

from gradflow.ops.activation import log_softmax, softmax
from gradflow.ops.compare import (
    allclose, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift,
    bitwise_xor, eq, ge, gt, isclose, isfinite, isinf, isnan, isneginf, isposinf, le,
    logical_and, logical_not, logical_or, logical_xor, lt, ne,
)
from gradflow.ops.cast import cast, clone
from gradflow.ops.elementwise import (
    abs, add, clamp, cos, div, erf, exp, floor_divide, fmod, log, maximum, minimum,
    mul, neg, pow, rdiv, reciprocal, relu, remainder, rpow, rsub, sigmoid, sin, sqrt, square, sub,
    tanh, where,
)
from gradflow.ops.linalg import (
    addmm, bmm, cross, dot, einsum, inner, matmul, mm, mv, outer, tensordot,
)
from gradflow.ops.math import (
    acos, acosh, arctan2, asin, asinh, atan, atan2, atanh, ceil, clamp_max, clamp_min, clip,
    copysign, cosh, divide, erfc, exp2, expm1, floor, frac, hypot, lerp, log1p, log2, log10,
    logaddexp, logaddexp2, multiply, nan_to_num, round, rsqrt, sign, sinh, subtract, tan,
    true_divide, trunc, xlogy,
)
from gradflow.ops.movement import (
    atleast_1d, atleast_2d, atleast_3d, diag, diag_embed, diagonal, dstack, expand_as, flip,
    fliplr, flipud, hstack, meshgrid, moveaxis, movedim, narrow, repeat, repeat_interleave,
    reshape_as, roll, rot90, swapaxes, swapdims, t, tensor_split, tile, trace, tril, triu,
    unflatten,
    unfold, view_as, vstack,
)
from gradflow.ops.promotion import can_cast, promote_types, result_type
from gradflow.ops.reduce import (
    all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, norm, std, sum, sum_to, var,
)
from gradflow.ops.scan import (
    aminmax, count_nonzero, cummax, cummin, cumprod, cumsum, logcumsumexp, nanmean, nansum, prod,
    std_mean, var_mean,
)
from gradflow.ops.scatter import (
    gather, index_add, index_copy, index_fill, index_select, masked_fill, masked_scatter,
    masked_select, scatter, scatter_add, scatter_reduce, take, take_along_dim,
)
from gradflow.ops.shape import (
    broadcast_to, cat, chunk, expand, flatten, getitem, index_put, pad, permute, reshape, split,
    squeeze, stack, transpose, unsqueeze,
)
from gradflow.ops.sorting import (
    argsort, argwhere, kthvalue, median, msort, nonzero, sort, topk, unique,
)

__all__ = [
    "abs", "acos", "acosh", "add", "addmm", "all", "allclose", "amax", "amin", "aminmax", "any",
    "arctan2", "argmax", "argmin", "argsort", "argwhere", "asin", "asinh", "atan", "atan2",
    "atanh", "atleast_1d", "atleast_2d", "atleast_3d", "bitwise_and", "bitwise_left_shift",
    "bitwise_not", "bitwise_or", "bitwise_right_shift", "bitwise_xor", "bmm", "broadcast_to",
    "can_cast", "cast", "cat", "ceil", "chunk", "clamp", "clamp_max", "clamp_min", "clip", "clone",
    "copysign", "cos", "cosh", "count_nonzero", "cross", "cummax", "cummin", "cumprod", "cumsum",
    "diag", "diag_embed", "diagonal", "div", "divide", "dot", "dstack", "einsum", "eq", "erf",
    "erfc", "exp", "exp2", "expand", "expand_as", "expm1", "flatten", "flip", "fliplr", "flipud",
    "floor", "floor_divide", "fmod", "frac", "gather", "ge", "getitem", "gt", "hstack", "hypot",
    "index_add", "index_copy", "index_fill", "index_put", "index_select", "inner", "isclose",
    "isfinite", "isinf", "isnan", "isneginf", "isposinf", "kthvalue", "le", "lerp", "log",
    "log10", "log1p", "log2", "log_softmax", "logaddexp", "logaddexp2", "logcumsumexp",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lt", "masked_fill",
    "masked_scatter", "masked_select", "matmul", "max", "maximum", "mean", "median", "meshgrid",
    "min", "minimum", "mm", "moveaxis", "movedim", "msort", "mul", "multiply", "mv", "nan_to_num",
    "nanmean", "nansum", "narrow", "ne", "neg", "nonzero", "norm", "outer", "pad", "permute",
    "pow", "prod", "promote_types", "rdiv", "reciprocal", "relu", "remainder", "repeat",
    "repeat_interleave", "reshape", "reshape_as", "result_type", "roll", "rot90", "round",
    "rpow", "rsqrt", "rsub", "scatter", "scatter_add", "scatter_reduce", "sigmoid", "sign", "sin",
    "sinh", "softmax", "sort", "split", "sqrt", "square", "squeeze", "stack", "std", "std_mean",
    "sub", "subtract", "sum", "sum_to", "swapaxes", "swapdims", "t", "take", "take_along_dim", "tan",
    "tanh", "tensor_split", "tensordot", "tile", "topk", "trace", "transpose", "tril", "triu",
    "true_divide", "trunc", "unflatten", "unfold", "unique", "unsqueeze", "var", "var_mean",
    "view_as", "vstack", "where", "xlogy",
]
