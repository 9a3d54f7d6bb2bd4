"""Specs for the core op library (elementwise, reductions, shape, linalg, activations)."""

from __future__ import annotations

import numpy as np

import gradflow as gf
from gradflow.testing.registry import Sample, exempt, op, rng

R = rng(0)


def away(shape, low=0.3, high=1.5):
    """Values bounded away from 0 (kinks of abs/relu, poles of log/div)."""
    signs = np.where(R.random(shape) < 0.5, -1.0, 1.0)
    return np.asarray(signs * R.uniform(low, high, shape))


def positive(shape, low=0.3, high=2.0):
    return np.asarray(R.uniform(low, high, shape))


def normal(shape):
    return np.asarray(R.standard_normal(shape))


def distinct(shape):
    """Values with no ties (for max/min), shuffled."""
    n = int(np.prod(shape)) if shape else 1
    return R.permutation(np.linspace(-2.0, 2.0, n)).reshape(shape)


def binary_samples(make=normal):
    return [
        Sample((make((3, 4)), make((3, 4))), label="same"),
        Sample((make((3, 4)), make((4,))), label="broadcast_row"),
        Sample((make((2, 1, 4)), make((3, 1))), label="broadcast_both"),
        Sample((make(()), make((2, 3))), label="scalar0d"),
        Sample((make((3,)), 1.7), label="python_scalar"),
    ]


def unary_samples(make=normal):
    return [Sample((make((3, 5)),), label="2d"), Sample((make(()),), label="0d"),
            Sample((make((2, 3, 4)),), label="3d")]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _erf(x):
    from math import erf
    return np.vectorize(erf)(x)


def _torch(name):
    return lambda torch, *args, **kw: getattr(torch, name)(*args, **kw)


# -- elementwise -------------------------------------------------------------------

op("add", gf.add, binary_samples(), np.add, torch_reference=_torch("add"))
op("sub", gf.sub, binary_samples(), np.subtract, torch_reference=_torch("sub"))
op("mul", gf.mul, binary_samples(), np.multiply, torch_reference=_torch("mul"))
op("div", gf.div, binary_samples(away), np.divide, torch_reference=_torch("div"))
op("rsub", gf.rsub, [Sample((normal((3, 4)), 2.5))], lambda a, b: b - a)
op("rdiv", gf.rdiv, [Sample((away((3, 4)), 2.5))], lambda a, b: b / a)
op("neg", gf.neg, unary_samples(), np.negative, torch_reference=_torch("neg"))
op("pow", gf.pow,
   [Sample((positive((3, 4)), 3), label="int_exp"), Sample((positive((3, 4)), -1.5), label="neg"),
    Sample((positive((3, 4)), 2), label="square"),
    Sample((positive((3, 4)), positive((4,))), label="tensor_exp")],
   np.power, torch_reference=_torch("pow"))
op("rpow", gf.rpow, [Sample((normal((3, 4)), 2.0))], lambda x, b: np.power(b, x))
op("square", gf.square, unary_samples(), np.square, torch_reference=_torch("square"))
op("reciprocal", gf.reciprocal, unary_samples(away), np.reciprocal,
   torch_reference=_torch("reciprocal"))
op("exp", gf.exp, unary_samples(), np.exp, torch_reference=_torch("exp"))
op("log", gf.log, unary_samples(positive), np.log, torch_reference=_torch("log"))
op("sqrt", gf.sqrt, unary_samples(positive), np.sqrt, torch_reference=_torch("sqrt"))
op("sin", gf.sin, unary_samples(), np.sin, torch_reference=_torch("sin"))
op("cos", gf.cos, unary_samples(), np.cos, torch_reference=_torch("cos"))
op("tanh", gf.tanh, unary_samples(), np.tanh, torch_reference=_torch("tanh"))
op("sigmoid", gf.sigmoid, unary_samples(), _sigmoid, torch_reference=_torch("sigmoid"))
op("relu", gf.relu, unary_samples(away), lambda x: np.maximum(x, 0.0),
   torch_reference=_torch("relu"))
op("abs", gf.abs, unary_samples(away), np.abs, torch_reference=_torch("abs"))
op("erf", gf.erf, unary_samples(), _erf, torch_reference=_torch("erf"), rtol=2e-6, atol=2e-7,
   gradcheck_atol=1e-5, gradcheck_rtol=1e-3)
op("maximum", gf.maximum, binary_samples(distinct)[:3], np.maximum,
   torch_reference=_torch("maximum"))
op("minimum", gf.minimum, binary_samples(distinct)[:3], np.minimum,
   torch_reference=_torch("minimum"))
op("clamp", gf.clamp,
   [Sample((away((4, 5)),), {"min": -0.5, "max": 0.8}), Sample((away((4, 5)),), {"min": 0.1}),
    Sample((away((4, 5)),), {"max": 0.1})],
   lambda x, min=None, max=None: np.clip(x, min, max),
   torch_reference=lambda torch, x, **kw: torch.clamp(x, **kw))


op("where", lambda c, a, b: gf.where(c > 0, a, b),
   [Sample((normal((3, 4)), normal((3, 4)), normal((3, 4))), grad_args=(1, 2)),
    Sample((normal((3, 4)), normal((4,)), 0.5), grad_args=(1,), label="broadcast_scalar")],
   lambda c, a, b: np.where(c > 0, a, b),
   torch_reference=lambda torch, c, a, b: torch.where(c > 0, a, b))

# -- reductions --------------------------------------------------------------------------

REDUCE_SAMPLES = [
    Sample((normal((3, 4)),), label="all"),
    Sample((normal((3, 4)),), {"dim": 1}, label="dim1"),
    Sample((normal((2, 3, 4)),), {"dim": (0, 2), "keepdim": True}, label="dims_keep"),
    Sample((normal(()),), label="0d"),
]


def _np_reduce(fn):
    def reference(x, dim=None, keepdim=False, **kw):
        return fn(x, axis=dim, keepdims=keepdim, **kw)
    return reference


def _torch_reduce(name):
    def reference(torch, x, dim=None, keepdim=False, **kw):
        if dim is None:
            return getattr(torch, name)(x, **kw)
        return getattr(torch, name)(x, dim=dim, keepdim=keepdim, **kw)
    return reference


op("sum", gf.sum, REDUCE_SAMPLES, _np_reduce(np.sum), torch_reference=_torch_reduce("sum"))
op("mean", gf.mean, REDUCE_SAMPLES, _np_reduce(np.mean), torch_reference=_torch_reduce("mean"))
VAR_SAMPLES = [Sample((normal((3, 4)),)), Sample((normal((3, 4)),), {"dim": 1}),
               Sample((normal((2, 3, 4)),), {"dim": (0, 2), "keepdim": True, "correction": 0})]


def _np_var(fn):
    def reference(x, dim=None, keepdim=False, correction=1):
        return fn(x, axis=dim, keepdims=keepdim, ddof=correction)
    return reference


op("var", gf.var, VAR_SAMPLES, _np_var(np.var), torch_reference=_torch_reduce("var"))
op("std", gf.std, VAR_SAMPLES, _np_var(np.std), torch_reference=_torch_reduce("std"))
MAX_SAMPLES = [Sample((distinct((3, 4)),)), Sample((distinct((3, 4)),), {"dim": 1}),
               Sample((distinct((2, 3, 4)),), {"dim": (0, 2), "keepdim": True})]
op("amax", gf.amax, MAX_SAMPLES, _np_reduce(np.max), torch_reference=_torch_reduce("amax"))
op("amin", gf.amin, MAX_SAMPLES, _np_reduce(np.min), torch_reference=_torch_reduce("amin"))


def _values(reduction):
    """The values of max(x, dim) / min(x, dim), checking that a (values, indices) pair came."""
    def values(x, dim):
        out = reduction(x, dim)
        assert not isinstance(out, gf.Tensor), "with dim, a (values, indices) pair"
        return out.values
    return values


op("max", _values(gf.max), [Sample((distinct((3, 4)), 1))],
   lambda x, dim: np.max(x, axis=dim), torch_reference=lambda torch, x, d: torch.max(x, d).values)
op("min", _values(gf.min), [Sample((distinct((3, 4)), 0))],
   lambda x, dim: np.min(x, axis=dim), torch_reference=lambda torch, x, d: torch.min(x, d).values)


def _np_logsumexp(x, dim, keepdim=False):
    m = np.max(x, axis=dim, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


op("logsumexp", gf.logsumexp,
   [Sample((normal((3, 4)), 1)), Sample((normal((2, 3, 4)), (0, 2), True)),
    Sample((normal((3, 4)) * 1e3, 1), label="large")],
   _np_logsumexp, torch_reference=lambda torch, x, d, k=False: torch.logsumexp(x, d, k))
op("norm", gf.norm, [Sample((away((3, 4)),)), Sample((away((3, 4)), 1.0, 1)),
                     Sample((distinct((3, 4)), float("inf"), 0))],
   lambda x, p=2.0, dim=None: np.linalg.norm(x.reshape(-1), p) if dim is None
   else np.linalg.norm(x, p, axis=dim))
op("argmax", gf.argmax, [Sample((distinct((3, 4)),), {"dim": 1}), Sample((distinct((3, 4)),))],
   lambda x, dim=None: np.argmax(x, axis=dim), differentiable=False,
   torch_reference=lambda torch, x, dim=None: torch.argmax(x, dim))
op("argmin", gf.argmin, [Sample((distinct((3, 4)),), {"dim": 0}), Sample((distinct((3, 4)),))],
   lambda x, dim=None: np.argmin(x, axis=dim), differentiable=False,
   torch_reference=lambda torch, x, dim=None: torch.argmin(x, dim))
op("sum_to", gf.sum_to, [Sample((normal((2, 3, 4)), (3, 1))), Sample((normal((3, 4)), (1, 4)))],
   lambda x, shape: x.sum(axis=tuple(range(x.ndim - len(shape)))).sum(
       axis=tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True).reshape(shape))

# -- activations -----------------------------------------------------------------------------


def _np_log_softmax(x, dim=-1):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


SOFTMAX_SAMPLES = [Sample((normal((3, 5)),), {"dim": 1}), Sample((normal((2, 3, 4)),), {"dim": 0}),
                   Sample((normal((2, 5)) * 1e4,), {"dim": -1}, label="logits_1e4")]
op("log_softmax", gf.log_softmax, SOFTMAX_SAMPLES, _np_log_softmax,
   torch_reference=lambda torch, x, dim: torch.log_softmax(x, dim))
op("softmax", gf.softmax, SOFTMAX_SAMPLES, lambda x, dim=-1: np.exp(_np_log_softmax(x, dim)),
   torch_reference=lambda torch, x, dim: torch.softmax(x, dim))

# -- linalg ------------------------------------------------------------------------------------

op("matmul", gf.matmul,
   [Sample((normal((3, 4)), normal((4, 2))), label="mm"),
    Sample((normal((4,)), normal((4,))), label="dot"),
    Sample((normal((3, 4)), normal((4,))), label="mv"),
    Sample((normal((4,)), normal((2, 4, 3))), label="vm_batched"),
    Sample((normal((2, 3, 4)), normal((4, 5))), label="batched"),
    Sample((normal((2, 1, 3, 4)), normal((3, 4, 2))), label="broadcast")],
   np.matmul, torch_reference=_torch("matmul"), rtol=1e-5, atol=1e-5)

# -- shape and indexing --------------------------------------------------------------------------

op("reshape", gf.reshape, [Sample((normal((3, 4)), (2, 6))), Sample((normal((3, 4)), (-1,))),
                           Sample((normal(()), (1, 1)))], np.reshape)
op("permute", gf.permute, [Sample((normal((2, 3, 4)), (2, 0, 1)))], np.transpose,
   torch_reference=lambda torch, x, dims: x.permute(dims))
op("transpose", gf.transpose, [Sample((normal((2, 3, 4)), 0, 2))], np.swapaxes,
   torch_reference=_torch("transpose"))
op("broadcast_to", gf.broadcast_to, [Sample((normal((3, 1)), (2, 3, 4)))], np.broadcast_to)
op("expand", gf.expand, [Sample((normal((3, 1)), (2, -1, 4)))],
   lambda x, shape: np.broadcast_to(x, (2, 3, 4)))
op("flatten", gf.flatten, [Sample((normal((2, 3, 4)),), {"start_dim": 1})],
   lambda x, start_dim=0: x.reshape(*x.shape[:start_dim], -1))
op("squeeze", gf.squeeze, [Sample((normal((2, 1, 3)),)), Sample((normal((2, 1, 3)), 1))],
   lambda x, dim=None: np.squeeze(x, axis=dim))
op("unsqueeze", gf.unsqueeze, [Sample((normal((2, 3)), 1)), Sample((normal((2, 3)), -1))],
   np.expand_dims)
op("cat", lambda *xs, dim=0: gf.cat(xs, dim),
   [Sample((normal((2, 3)), normal((4, 3)))), Sample((normal((2, 3)), normal((2, 1))), {"dim": 1})],
   lambda *xs, dim=0: np.concatenate(xs, axis=dim))
op("stack", lambda *xs, dim=0: gf.stack(xs, dim),
   [Sample((normal((2, 3)), normal((2, 3))), {"dim": 1})],
   lambda *xs, dim=0: np.stack(xs, axis=dim))
op("split", lambda x, size, dim=0: gf.split(x, size, dim)[1],
   [Sample((normal((5, 3)), 2)), Sample((normal((3, 6)), [1, 5], 1))],
   lambda x, size, dim=0: np.split(x, [size] if isinstance(size, int) else np.cumsum(size)[:-1],
                                   axis=dim)[1] if not isinstance(size, int)
   else np.take(x, range(size, min(2 * size, x.shape[dim])), axis=dim))
op("chunk", lambda x, n, dim=0: gf.chunk(x, n, dim)[0], [Sample((normal((5, 3)), 2))],
   lambda x, n, dim=0: x[:3])
op("pad", gf.pad, [Sample((normal((2, 3)), (1, 2))),
                   Sample((normal((2, 3, 4)), (1, 0, 2, 1), 0.5))],
   lambda x, p, value=0.0: np.pad(
       x, [(0, 0)] * (x.ndim - len(p) // 2)
       + [(p[2 * i], p[2 * i + 1]) for i in reversed(range(len(p) // 2))], constant_values=value))

INDEX_KEYS = {
    "int": 1,
    "slices": (slice(None), slice(1, 4, 2)),
    "negative_step_free": (slice(0, 2), None, -1),
    "ellipsis": (Ellipsis, 0),
}
for _label, _key in INDEX_KEYS.items():
    op(f"getitem_{_label}", lambda x, key=_key: x[key], [Sample((normal((3, 5)),))],
       lambda x, key=_key: x[key])
_REPEATS = np.array([0, 2, 2, 1, 0, 2])
op("getitem_int_array", lambda x: x[gf.tensor(_REPEATS, device=x.device)],
   [Sample((normal((3, 4)),))], lambda x: x[_REPEATS])
op("getitem_two_arrays",
   lambda x: x[gf.arange(4, device=x.device), gf.tensor([1, 0, 2, 2], device=x.device)],
   [Sample((normal((4, 3)),))], lambda x: x[np.arange(4), [1, 0, 2, 2]])
op("getitem_column_array", lambda x: x[:, gf.tensor([2, 0, 2], device=x.device)],
   [Sample((normal((3, 4)),))], lambda x: x[:, [2, 0, 2]])
op("getitem_mask", lambda x: x[x > 0], [Sample((away((3, 4)),))], lambda x: x[x > 0])
op("index_put_basic", lambda x, v: gf.index_put(x, (slice(0, 2), 1), v),
   [Sample((normal((3, 4)), normal((2,))))],
   lambda x, v: _put(x, v))


def _put(x, v):
    out = x.copy()
    out[0:2, 1] = v
    return out


op("cast", lambda x: gf.cast(x, gf.float64).sin(), unary_samples(), np.sin, tags=("float64",))
op("clone", gf.clone, unary_samples(), np.copy)

exempt("getitem", "registered per key kind as getitem_*")
exempt("index_put", "registered as index_put_basic")
