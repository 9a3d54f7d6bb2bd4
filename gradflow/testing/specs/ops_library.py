"""Specs for the op library's breadth (issue 13): math, comparisons and bitwise ops, scans,
sorting, gather/scatter, movement, linear algebra. One or two sampled inputs per op keep
the suite fast; each still gets forward, gradcheck, second order and cross-device checks."""

from __future__ import annotations

import math

import numpy as np

import gradflow as gf
from gradflow.testing.registry import Sample, exempt, op
from gradflow.testing.specs.core import away, distinct, normal, positive, rng

R = rng(13)


def _t(name):
    """PyTorch's function of the same name."""
    return lambda torch, *args, **kw: getattr(torch, name)(*args, **kw)


def _method(name):
    return lambda torch, x, *args, **kw: getattr(x, name)(*args, **kw)


def unit(shape):
    """Values inside (-0.9, 0.9): the domain of asin, acos, atanh."""
    return np.asarray(R.uniform(-0.9, 0.9, shape))


def off_integers(shape):
    """Values away from whole numbers and halves (the jumps of floor, round, ...)."""
    return np.asarray(np.floor(R.uniform(-4, 4, shape)) + R.uniform(0.1, 0.4, shape))


def ints(shape, low=-8, high=8):
    return R.integers(low, high, shape).astype(np.int64)


def unary(name, fn, reference, make=normal, *, torch_name=None, samples=None, **options):
    samples = samples or [Sample((make((2, 3)),), label="2d"), Sample((make(()),), label="0d")]
    op(name, fn, samples, reference, torch_reference=_t(torch_name or name), **options)


def binary(name, fn, reference, make_a=normal, make_b=normal, *, torch_name=None, **options):
    samples = [Sample((make_a((2, 3)), make_b((2, 3))), label="same"),
               Sample((make_a((2, 3)), make_b((3,))), label="broadcast")]
    op(name, fn, samples, reference, torch_reference=_t(torch_name or name), **options)


# -- elementwise math ----------------------------------------------------------------------

for _name, _make in [("tan", unit), ("asin", unit), ("acos", unit), ("atan", normal),
                     ("sinh", normal), ("cosh", normal), ("asinh", normal),
                     ("acosh", lambda s: positive(s, 1.2, 3.0)), ("atanh", unit),
                     ("log1p", positive), ("expm1", normal), ("log2", positive),
                     ("log10", positive), ("exp2", normal), ("rsqrt", positive)]:
    _numpy = {"asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
              "acosh": np.arccosh, "atanh": np.arctanh,
              "rsqrt": lambda x: 1 / np.sqrt(x)}.get(_name) or getattr(np, _name)
    unary(_name, getattr(gf, _name), _numpy, _make, rtol=1e-5, atol=1e-5)


def _erfc(x):
    return np.vectorize(math.erfc)(x)


unary("erfc", gf.erfc, _erfc, normal, rtol=2e-6, atol=3e-7, gradcheck_atol=1e-5,
      gradcheck_rtol=1e-3)
for _name in ("floor", "ceil", "trunc"):
    unary(_name, getattr(gf, _name), getattr(np, _name), off_integers, double_backward=False)
unary("round", gf.round, np.round, off_integers, double_backward=False,
      samples=[Sample((off_integers((2, 3)),)),
               Sample((off_integers((2, 3)) * 10,), {"decimals": 1}, label="decimals")])
unary("frac", gf.frac, lambda x: x - np.trunc(x), off_integers)
unary("sign", gf.sign, np.sign, away, double_backward=False)
binary("atan2", gf.atan2, np.arctan2, away, away)
binary("arctan2", gf.arctan2, np.arctan2, away, away)
binary("logaddexp", gf.logaddexp, np.logaddexp, distinct, distinct)
binary("logaddexp2", gf.logaddexp2, np.logaddexp2, distinct, distinct)
binary("hypot", gf.hypot, np.hypot, away, away)
op("copysign", gf.copysign, [Sample((away((2, 3)), away((2, 3))), grad_args=(0,))],
   np.copysign, torch_reference=_t("copysign"))
op("lerp", gf.lerp, [Sample((normal((2, 3)), normal((2, 3)), normal((2, 3)))),
                     Sample((normal((2, 3)), normal((3,)), 0.3), label="scalar_weight")],
   lambda a, b, w: a + w * (b - a), torch_reference=_t("lerp"))
op("xlogy", gf.xlogy, [Sample((away((2, 3)), positive((2, 3))))],
   lambda x, y: x * np.log(y), torch_reference=_t("xlogy"))


def _with_specials(shape):
    x = normal(shape)
    x.flat[0], x.flat[1], x.flat[2] = np.nan, np.inf, -np.inf
    return x


op("nan_to_num", gf.nan_to_num,
   [Sample((_with_specials((2, 3)),), {"nan": 0.5, "posinf": 9.0, "neginf": -9.0},
           grad_args=())],
   np.nan_to_num, differentiable=False, torch_reference=_t("nan_to_num"))
op("clamp_min", gf.clamp_min, [Sample((away((2, 3)), 0.1))], np.maximum,
   torch_reference=_t("clamp_min"))
op("clamp_max", gf.clamp_max, [Sample((away((2, 3)), 0.1))], np.minimum,
   torch_reference=_t("clamp_max"))
op("clip", gf.clip, [Sample((away((2, 3)), -0.5, 0.5))], np.clip, torch_reference=_t("clip"))
binary("true_divide", gf.true_divide, np.divide, normal, away)
binary("divide", gf.divide, np.divide, normal, away)
binary("multiply", gf.multiply, np.multiply)
binary("subtract", gf.subtract, np.subtract)
binary("remainder", gf.remainder, np.remainder, lambda s: R.uniform(-5, 5, s),
       lambda s: away(s, 0.7, 1.9), double_backward=False)
binary("fmod", gf.fmod, np.fmod, lambda s: R.uniform(-5, 5, s), lambda s: away(s, 0.7, 1.9),
       double_backward=False)
binary("floor_divide", gf.floor_divide, np.floor_divide, lambda s: R.uniform(-5, 5, s),
       lambda s: away(s, 0.7, 1.9), differentiable=False)

# -- comparisons, logic, bitwise ------------------------------------------------------------

for _name, _np in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                   ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]:
    op(_name, getattr(gf, _name),
       [Sample((ints((2, 3), -2, 2), ints((3,), -2, 2)), label="int"),
        Sample((normal((2, 3)), 0.0), label="scalar")],
       _np, differentiable=False, torch_reference=_t(_name))
for _name in ("logical_and", "logical_or", "logical_xor"):
    op(_name, getattr(gf, _name), [Sample((ints((2, 3), -1, 2), ints((2, 3), -1, 2)))],
       getattr(np, _name), differentiable=False, torch_reference=_t(_name))
op("logical_not", gf.logical_not, [Sample((ints((2, 3), -1, 2),))], np.logical_not,
   differentiable=False, torch_reference=_t("logical_not"))
for _name, _np in [("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                   ("bitwise_xor", np.bitwise_xor)]:
    op(_name, getattr(gf, _name), [Sample((ints((2, 3), -9, 9), ints((3,), -9, 9)))], _np,
       differentiable=False, torch_reference=_t(_name))
op("bitwise_not", gf.bitwise_not, [Sample((ints((2, 3), -9, 9),))], np.invert,
   differentiable=False, torch_reference=_t("bitwise_not"))
op("bitwise_left_shift", gf.bitwise_left_shift, [Sample((ints((2, 3), -9, 9), ints((3,), 0, 4)))],
   np.left_shift, differentiable=False, torch_reference=_t("bitwise_left_shift"))
op("bitwise_right_shift", gf.bitwise_right_shift,
   [Sample((ints((2, 3), -9, 9), ints((3,), 0, 4)))], np.right_shift, differentiable=False,
   torch_reference=_t("bitwise_right_shift"))
for _name in ("isfinite", "isnan", "isinf", "isposinf", "isneginf"):
    op(_name, getattr(gf, _name), [Sample((_with_specials((2, 3)),))], getattr(np, _name),
       differentiable=False, torch_reference=_t(_name))


def _close_pair(shape):
    a = normal(shape)
    return a, a + np.where(R.random(shape) < 0.5, 1e-7, 1e-2)


op("isclose", gf.isclose, [Sample(_close_pair((2, 3)))], np.isclose, differentiable=False,
   torch_reference=_t("isclose"))
def _np_along(fn):
    return lambda x, dim=None: fn(x, axis=dim)


for _name in ("all", "any"):
    op(_name, getattr(gf, _name), [Sample((ints((3, 4), -1, 2),)), Sample((ints((3, 4), 0, 2), 1),
                                                                         label="dim")],
       _np_along(getattr(np, _name)), differentiable=False, torch_reference=_t(_name))
for _name in ("result_type", "promote_types", "can_cast"):
    exempt(_name, "a dtype function: tests/test_promotion.py checks it against the whole table")
op("allclose", lambda a, b: gf.tensor(gf.allclose(a, b)), [Sample(_close_pair((2, 3)))],
   lambda a, b: np.asarray(np.allclose(a, b)), differentiable=False)

# -- reductions and scans -------------------------------------------------------------------

op("prod", gf.prod, [Sample((away((2, 3)),)), Sample((away((2, 3)),), {"dim": 1}),
                     Sample((np.array([[0.5, 0.0, 2.0], [1.5, -1.0, 0.7]]),), {"dim": 1},
                            label="zero")],
   lambda x, dim=None: np.prod(x, axis=dim), torch_reference=_t("prod"))
op("cumsum", gf.cumsum, [Sample((normal((2, 3)), 1)), Sample((normal((3,)), 0))],
   lambda x, d: np.cumsum(x, axis=d), torch_reference=_t("cumsum"))
op("cumprod", gf.cumprod, [Sample((away((2, 3)), 1)),
                           Sample((np.array([0.5, 0.0, 2.0, 1.5]), 0), label="zero")],
   lambda x, d: np.cumprod(x, axis=d), torch_reference=_t("cumprod"))


def _np_cum_extreme(fn):
    return lambda x, d: fn.accumulate(x, axis=d)


op("cummax", lambda x, d: gf.cummax(x, d).values, [Sample((distinct((2, 5)), 1))],
   _np_cum_extreme(np.maximum), torch_reference=lambda torch, x, d: torch.cummax(x, d).values)
op("cummin", lambda x, d: gf.cummin(x, d).values, [Sample((distinct((2, 5)), 1))],
   _np_cum_extreme(np.minimum), torch_reference=lambda torch, x, d: torch.cummin(x, d).values)
op("logcumsumexp", gf.logcumsumexp, [Sample((normal((2, 4)), 1))],
   lambda x, d: np.logaddexp.accumulate(x, axis=d), torch_reference=_t("logcumsumexp"))
op("std_mean", lambda x, **kw: gf.std_mean(x, **kw), [Sample((normal((3, 4)),), {"dim": 1})],
   lambda x, dim: (np.std(x, axis=dim, ddof=1), np.mean(x, axis=dim)),
   torch_reference=lambda torch, x, dim: torch.std_mean(x, dim=dim))
op("var_mean", lambda x, **kw: gf.var_mean(x, **kw), [Sample((normal((3, 4)),), {"dim": 0})],
   lambda x, dim: (np.var(x, axis=dim, ddof=1), np.mean(x, axis=dim)),
   torch_reference=lambda torch, x, dim: torch.var_mean(x, dim=dim))


def _with_nan(shape):
    x = normal(shape)
    x.flat[1] = np.nan
    return x


op("nansum", gf.nansum, [Sample((_with_nan((2, 3)),), {"dim": 1})],
   lambda x, dim: np.nansum(x, axis=dim), torch_reference=_t("nansum"))
op("nanmean", gf.nanmean, [Sample((_with_nan((2, 3)),), {"dim": 1})],
   lambda x, dim: np.nanmean(x, axis=dim), torch_reference=_t("nanmean"))
op("count_nonzero", gf.count_nonzero, [Sample((ints((3, 4), -1, 2),), {"dim": 1})],
   lambda x, dim: np.count_nonzero(x, axis=dim), differentiable=False,
   torch_reference=_t("count_nonzero"))
op("aminmax", lambda x, **kw: tuple(gf.aminmax(x, **kw)),
   [Sample((distinct((3, 4)),), {"dim": 1})],
   lambda x, dim: (np.min(x, axis=dim), np.max(x, axis=dim)),
   torch_reference=lambda torch, x, dim: tuple(torch.aminmax(x, dim=dim)))
op("median", lambda x, *a: gf.median(x, *a) if not a else gf.median(x, *a).values,
   [Sample((distinct((3, 4)),)), Sample((distinct((3, 5)), 1), label="dim")],
   lambda x, *a: np.sort(x.reshape(-1) if not a else x, axis=-1)[
       ..., ((x.size if not a else x.shape[1]) - 1) // 2],
   torch_reference=lambda torch, x, *a: torch.median(x, *a) if not a
   else torch.median(x, *a).values)

# -- sorting and selection ----------------------------------------------------------------

op("sort", lambda x, **kw: tuple(gf.sort(x, **kw)),
   [Sample((distinct((3, 4)),)), Sample((distinct((3, 4)),), {"dim": 0, "descending": True})],
   lambda x, dim=-1, descending=False: (
       np.flip(np.sort(x, axis=dim), dim) if descending else np.sort(x, axis=dim),
       np.flip(np.argsort(x, axis=dim), dim) if descending else np.argsort(x, axis=dim)),
   torch_reference=lambda torch, x, **kw: tuple(torch.sort(x, **kw)))
op("argsort", gf.argsort, [Sample((distinct((3, 4)),), {"dim": 1})],
   lambda x, dim: np.argsort(x, axis=dim), differentiable=False,
   torch_reference=_t("argsort"))
op("msort", gf.msort, [Sample((distinct((3, 4)),))], lambda x: np.sort(x, axis=0),
   torch_reference=_t("msort"))
op("topk", lambda x, k, **kw: tuple(gf.topk(x, k, **kw)),
   [Sample((distinct((3, 5)), 2)), Sample((distinct((3, 5)), 2), {"largest": False, "dim": 0})],
   lambda x, k, dim=-1, largest=True: (
       np.take(np.flip(np.sort(x, axis=dim), dim) if largest else np.sort(x, axis=dim),
               range(k), axis=dim),
       np.take(np.flip(np.argsort(x, axis=dim), dim) if largest else np.argsort(x, axis=dim),
               range(k), axis=dim)),
   torch_reference=lambda torch, x, k, **kw: tuple(torch.topk(x, k, **kw)))
op("kthvalue", lambda x, k, d: tuple(gf.kthvalue(x, k, d)), [Sample((distinct((3, 5)), 2, 1))],
   lambda x, k, d: (np.sort(x, axis=d)[:, k - 1], np.argsort(x, axis=d)[:, k - 1]),
   torch_reference=lambda torch, x, k, d: tuple(torch.kthvalue(x, k, d)))
op("unique", lambda x: tuple(gf.unique(x, return_inverse=True, return_counts=True)),
   [Sample((ints((3, 4), 0, 5),))],
   lambda x: np.unique(x, return_inverse=True, return_counts=True), differentiable=False,
   torch_reference=lambda torch, x: tuple(torch.unique(x, return_inverse=True,
                                                       return_counts=True)))
op("nonzero", gf.nonzero, [Sample((ints((3, 4), -1, 2),))], lambda x: np.argwhere(x),
   differentiable=False, torch_reference=_t("nonzero"))
op("argwhere", gf.argwhere, [Sample((ints((3, 4), -1, 2),))], lambda x: np.argwhere(x),
   differentiable=False, torch_reference=_t("argwhere"))
op("where_condition_only", lambda x: gf.where(x)[1], [Sample((ints((3, 4), -1, 2),))],
   lambda x: np.nonzero(x)[1], differentiable=False,
   torch_reference=lambda torch, x: torch.where(x)[1])

# -- gather and scatter ---------------------------------------------------------------------

_IDX = np.array([[0, 2, 1, 2], [1, 1, 0, 0]])
_ROWS = np.array([2, 0, 2])


def _np_gather(x, dim, index):
    return np.take_along_axis(x[:, :index.shape[1]] if dim == 0 else x, index, axis=dim)


op("gather", gf.gather,
   [Sample((normal((3, 4)), 0, _IDX[:, :3])), Sample((normal((2, 3)), 1, _IDX))],
   _np_gather, torch_reference=lambda torch, x, d, i: torch.gather(x, d, i))
op("take_along_dim", gf.take_along_dim, [Sample((normal((2, 3)), _IDX, 1))],
   lambda x, i, d: np.take_along_axis(x, i, axis=d), torch_reference=_t("take_along_dim"))
op("take", gf.take, [Sample((normal((3, 4)), _IDX))], lambda x, i: np.take(x, i),
   torch_reference=_t("take"))


def _np_scatter(x, dim, index, src, mode):
    out = x.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        target = tuple(target)
        value = src if np.ndim(src) == 0 else src[pos]
        if mode == "set":
            out[target] = value
        elif mode == "sum":
            out[target] += value
    return out


_SCATTER_IDX = np.array([[0, 2, 1], [2, 1, 0]])  # a permutation per row: no repeats
op("scatter", gf.scatter, [Sample((normal((2, 3)), 1, _SCATTER_IDX, normal((2, 3))))],
   lambda x, d, i, s: _np_scatter(x, d, i, s, "set"),
   torch_reference=lambda torch, x, d, i, s: torch.scatter(x, d, i, s))
op("scatter_add", gf.scatter_add, [Sample((normal((3, 4)), 0, _IDX, normal((2, 4))))],
   lambda x, d, i, s: _np_scatter(x, d, i, s, "sum"),
   torch_reference=lambda torch, x, d, i, s: torch.scatter_add(x, d, i, s))


def _np_scatter_reduce(x, dim, index, src, reduce, include_self=True):
    out = x.copy()
    groups = {}
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        groups.setdefault(tuple(target), []).append(src[pos])
    for target, values in groups.items():
        values = ([x[target]] if include_self else []) + values
        fn = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}
        out[target] = fn[reduce](values)
    return out


_SAMPLES_REDUCE = []
for _reduce in ("sum", "prod", "mean", "amax", "amin"):
    _SAMPLES_REDUCE.append(Sample((distinct((3, 4)), 0, _IDX, distinct((2, 4)) + 0.1, _reduce),
                                  label=_reduce))
_SAMPLES_REDUCE.append(Sample((distinct((3, 4)), 0, _IDX, distinct((2, 4)) + 0.1, "amax"),
                              {"include_self": False}, label="amax_exclude_self"))
_SAMPLES_REDUCE.append(Sample((distinct((3, 4)), 0, _IDX, distinct((2, 4)) + 0.1, "mean"),
                              {"include_self": False}, label="mean_exclude_self"))
op("scatter_reduce", gf.scatter_reduce, _SAMPLES_REDUCE, _np_scatter_reduce,
   torch_reference=lambda torch, x, d, i, s, r, **kw: torch.scatter_reduce(x, d, i, s, r, **kw))
op("index_select", gf.index_select, [Sample((normal((3, 4)), 0, _ROWS)),
                                     Sample((normal((3, 4)), 1, _ROWS), label="dim1")],
   lambda x, d, i: np.take(x, i, axis=d), torch_reference=_t("index_select"))


def _np_index_add(x, dim, index, source):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, index, np.moveaxis(source, dim, 0))
    return np.moveaxis(out, 0, dim)


op("index_add", gf.index_add, [Sample((normal((3, 4)), 0, _ROWS, normal((3, 4))))],
   _np_index_add, torch_reference=lambda torch, x, d, i, s: torch.index_add(x, d, i, s))


def _np_index_copy(x, dim, index, source):
    out = np.moveaxis(x.copy(), dim, 0)
    out[index] = np.moveaxis(source, dim, 0)
    return np.moveaxis(out, 0, dim)


op("index_copy", gf.index_copy, [Sample((normal((3, 4)), 1, np.array([3, 0]), normal((3, 2))))],
   _np_index_copy, torch_reference=lambda torch, x, d, i, s: torch.index_copy(x, d, i, s))
op("index_fill", gf.index_fill, [Sample((normal((3, 4)), 1, np.array([3, 0]), -2.0))],
   lambda x, d, i, v: _np_index_copy(x, d, i, np.full((3, 2), v)),
   torch_reference=lambda torch, x, d, i, v: torch.index_fill(x, d, i, v))
_MASK = np.array([[True, False, True, False], [False, False, True, True],
                  [True, True, False, False]])
op("masked_fill", lambda x, m, v: gf.masked_fill(x, m, v), [Sample((normal((3, 4)), _MASK, 0.5))],
   lambda x, m, v: np.where(m, v, x), torch_reference=lambda torch, x, m, v: x.masked_fill(m, v))
op("masked_select", gf.masked_select, [Sample((normal((3, 4)), _MASK)),
                                       Sample((normal((3, 4)), _MASK[0]), label="broadcast")],
   lambda x, m: np.broadcast_to(x, np.broadcast_shapes(x.shape, m.shape))[
       np.broadcast_to(m, np.broadcast_shapes(x.shape, m.shape))],
   torch_reference=_t("masked_select"))


def _np_masked_scatter(x, m, s):
    out = x.copy()
    out[m] = s.reshape(-1)[:m.sum()]
    return out


op("masked_scatter", gf.masked_scatter, [Sample((normal((3, 4)), _MASK, normal((3, 3))))],
   _np_masked_scatter, torch_reference=lambda torch, x, m, s: x.masked_scatter(m, s))
op("index_put_int_arrays", lambda x, v: gf.index_put(x, (gf.tensor([0, 2], device=x.device),
                                                        slice(1, 3)), v),
   [Sample((normal((3, 4)), normal((2, 2))))], lambda x, v: _np_put(x, v))
op("index_put_accumulate", lambda x, v: gf.index_put(x, (gf.tensor([0, 2, 0], device=x.device),),
                                                     v, accumulate=True),
   [Sample((normal((3, 4)), normal((3, 4))))], lambda x, v: _np_index_add(x, 0, [0, 2, 0], v),
   torch_reference=lambda torch, x, v: x.index_put((torch.tensor([0, 2, 0]),), v,
                                                   accumulate=True))


def _np_put(x, v):
    out = x.copy()
    out[[0, 2], 1:3] = v
    return out


# -- shape ---------------------------------------------------------------------------------

op("flip", gf.flip, [Sample((normal((2, 3, 4)), (0, 2)))], lambda x, d: np.flip(x, d),
   torch_reference=_t("flip"))
op("fliplr", gf.fliplr, [Sample((normal((2, 3)),))], np.fliplr, torch_reference=_t("fliplr"))
op("flipud", gf.flipud, [Sample((normal((2, 3)),))], np.flipud, torch_reference=_t("flipud"))
op("roll", gf.roll, [Sample((normal((3, 4)), (1, -3), (0, 1))), Sample((normal((3, 4)), 2),
                                                                       label="flat")],
   lambda x, s, d=None: np.roll(x, s, d), torch_reference=_t("roll"))
op("rot90", gf.rot90, [Sample((normal((2, 3)), k), label=f"k{k}") for k in (1, 2, 3)],
   lambda x, k: np.rot90(x, k), torch_reference=_t("rot90"))
op("tril", gf.tril, [Sample((normal((3, 4)),)), Sample((normal((2, 3, 3)), -1), label="batch")],
   np.tril, torch_reference=_t("tril"))
op("triu", gf.triu, [Sample((normal((3, 4)), 1))], np.triu, torch_reference=_t("triu"))
op("diag", gf.diag, [Sample((normal((3,)),), label="embed"), Sample((normal((3, 4)), 1),
                                                                   label="extract")],
   np.diag, torch_reference=_t("diag"))
op("diagonal", gf.diagonal, [Sample((normal((2, 3, 4)), 1, 1, 2))], np.diagonal,
   torch_reference=_t("diagonal"))


def _np_diag_embed(x, offset=0):
    n = x.shape[-1] + abs(offset)
    out = np.zeros((*x.shape[:-1], n, n))
    for k in range(x.shape[-1]):
        out[..., k + max(-offset, 0), k + max(offset, 0)] = x[..., k]
    return out


op("diag_embed", gf.diag_embed, [Sample((normal((2, 3)), 1))], _np_diag_embed,
   torch_reference=_t("diag_embed"))
op("trace", gf.trace, [Sample((normal((3, 4)),))], np.trace, torch_reference=_t("trace"))
op("repeat", lambda x, *s: gf.repeat(x, *s), [Sample((normal((2, 3)), 2, 1, 2))],
   lambda x, *s: np.tile(x, s), torch_reference=lambda torch, x, *s: x.repeat(*s))
op("tile", gf.tile, [Sample((normal((2, 3)), (2,)))], np.tile, torch_reference=_t("tile"))
op("repeat_interleave", gf.repeat_interleave,
   [Sample((normal((2, 3)), 2, 1)), Sample((normal((3, 2)), np.array([1, 0, 2]), 0),
                                           label="counts")],
   lambda x, r, d: np.repeat(x, r, axis=d), torch_reference=_t("repeat_interleave"))
op("unfold", lambda x, *a: x.unfold(*a), [Sample((normal((2, 7)), 1, 3, 2))],
   lambda x, d, size, step: np.stack([x[:, i:i + size] for i in range(0, 7 - size + 1, step)], 1),
   torch_reference=lambda torch, x, *a: x.unfold(*a))
op("unflatten", gf.unflatten, [Sample((normal((2, 6)), 1, (3, 2)))],
   lambda x, d, s: x.reshape(2, 3, 2), torch_reference=_t("unflatten"))
op("movedim", gf.movedim, [Sample((normal((2, 3, 4)), 0, 2))], np.moveaxis,
   torch_reference=_t("movedim"))
op("moveaxis", gf.moveaxis, [Sample((normal((2, 3, 4)), (0, 1), (2, 0)))], np.moveaxis,
   torch_reference=_t("moveaxis"))
op("swapaxes", gf.swapaxes, [Sample((normal((2, 3, 4)), 0, 2))], np.swapaxes,
   torch_reference=_t("swapaxes"))
op("swapdims", gf.swapdims, [Sample((normal((2, 3, 4)), 0, 1))], np.swapaxes,
   torch_reference=_t("swapdims"))
op("t", gf.t, [Sample((normal((2, 3)),), label="2d"), Sample((normal((3,)),), label="1d")],
   lambda x: x.T, torch_reference=_t("t"))
op("narrow", gf.narrow, [Sample((normal((3, 5)), 1, 1, 3))], lambda x, d, s, n: x[:, s:s + n],
   torch_reference=_t("narrow"))
op("tensor_split", lambda x, s, d=0: gf.tensor_split(x, s, d)[1],
   [Sample((normal((7, 2)), 3)), Sample((normal((2, 7)), [1, 5], 1), label="indices")],
   lambda x, s, d=0: np.array_split(x, s, axis=d)[1],
   torch_reference=lambda torch, x, s, d=0: torch.tensor_split(x, s, d)[1])
op("hstack", lambda *xs: gf.hstack(xs), [Sample((normal((2, 3)), normal((2, 1))))],
   lambda *xs: np.hstack(xs), torch_reference=lambda torch, *xs: torch.hstack(xs))
op("vstack", lambda *xs: gf.vstack(xs), [Sample((normal((3,)), normal((2, 3))))],
   lambda *xs: np.vstack(xs), torch_reference=lambda torch, *xs: torch.vstack(xs))
op("dstack", lambda *xs: gf.dstack(xs), [Sample((normal((2, 3)), normal((2, 3))))],
   lambda *xs: np.dstack(xs), torch_reference=lambda torch, *xs: torch.dstack(xs))
op("meshgrid", lambda a, b, **kw: gf.meshgrid(a, b, **kw),
   [Sample((normal((3,)), normal((2,)))), Sample((normal((3,)), normal((2,))), {"indexing": "xy"},
                                                 label="xy")],
   lambda a, b, indexing="ij": np.meshgrid(a, b, indexing=indexing),
   torch_reference=lambda torch, a, b, indexing="ij": torch.meshgrid(a, b, indexing=indexing))
for _k, _np_fn in [(1, np.atleast_1d), (2, np.atleast_2d), (3, np.atleast_3d)]:
    op(f"atleast_{_k}d", getattr(gf, f"atleast_{_k}d"),
       [Sample((normal(()),), label="0d"), Sample((normal((3,)),), label="1d"),
        Sample((normal((2, 3)),), label="2d")],
       _np_fn, torch_reference=_t(f"atleast_{_k}d"))
op("expand_as", lambda x, y: x.expand_as(y), [Sample((normal((3, 1)), normal((2, 3, 4))),
                                                     grad_args=(0,))],
   lambda x, y: np.broadcast_to(x, y.shape), torch_reference=lambda torch, x, y: x.expand_as(y))
op("view_as", lambda x, y: x.view_as(y), [Sample((normal((3, 4)), normal((2, 6))), grad_args=(0,))],
   lambda x, y: x.reshape(y.shape), torch_reference=lambda torch, x, y: x.view_as(y))
op("reshape_as", gf.reshape_as, [Sample((normal((3, 4)), normal((6, 2))), grad_args=(0,))],
   lambda x, y: x.reshape(y.shape), torch_reference=lambda torch, x, y: x.reshape_as(y))

# -- linear algebra ---------------------------------------------------------------------------

_EINSUM = {
    "matmul": ("ij,jk->ik", (3, 4), (4, 2)),
    "trace": ("ii->", (3, 3)),
    "diagonal": ("ii->i", (3, 3)),
    "batch_ellipsis": ("...ij,...jk->...ik", (2, 3, 4), (4, 2)),
    "outer_implicit": ("i,j", (3,), (2,)),
    "three_operands": ("ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
    "sum_out": ("ijk->j", (2, 3, 4)),
    "bilinear": ("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
    "repeated_across": ("ij,ij->i", (2, 3), (2, 3)),
}
op("einsum", lambda s, *xs: gf.einsum(s, *xs),
   [Sample((spec, *(normal(shape) for shape in shapes)), label=label)
    for label, (spec, *shapes) in _EINSUM.items()],
   lambda s, *xs: np.einsum(s, *xs), torch_reference=lambda torch, s, *xs: torch.einsum(s, *xs),
   rtol=1e-5, atol=1e-5)
op("tensordot", gf.tensordot, [Sample((normal((2, 3, 4)), normal((3, 4, 2))), label="2"),
                               Sample((normal((2, 3, 4)), normal((4, 2))), {"dims": ([2], [0])},
                                      label="pairs")],
   lambda a, b, dims=2: np.tensordot(a, b, dims), torch_reference=_t("tensordot"),
   rtol=1e-5, atol=1e-5)
op("outer", gf.outer, [Sample((normal((3,)), normal((2,))))], np.outer, torch_reference=_t("outer"))
op("inner", gf.inner, [Sample((normal((2, 3)), normal((4, 3))))], np.inner,
   torch_reference=_t("inner"), atol=1e-5)
op("dot", gf.dot, [Sample((normal((4,)), normal((4,))))], np.dot, torch_reference=_t("dot"),
   atol=1e-5)
op("mm", gf.mm, [Sample((normal((2, 3)), normal((3, 4))))], np.matmul, torch_reference=_t("mm"),
   atol=1e-5)
op("bmm", gf.bmm, [Sample((normal((2, 2, 3)), normal((2, 3, 4))))], np.matmul,
   torch_reference=_t("bmm"), atol=1e-5)
op("mv", gf.mv, [Sample((normal((2, 3)), normal((3,))))], np.matmul, torch_reference=_t("mv"),
   atol=1e-5)
op("addmm", gf.addmm, [Sample((normal((2, 4)), normal((2, 3)), normal((3, 4)))),
                       Sample((normal((4,)), normal((2, 3)), normal((3, 4))),
                              {"beta": 0.5, "alpha": 2.0}, label="scaled")],
   lambda c, a, b, beta=1, alpha=1: beta * c + alpha * (a @ b), torch_reference=_t("addmm"),
   atol=1e-5)
op("cross", gf.cross, [Sample((normal((2, 3)), normal((2, 3))), {"dim": 1}),
                       Sample((normal((3, 2)), normal((3, 2))), label="default_dim")],
   lambda a, b, dim=None: np.cross(a, b, axis=dim if dim is not None else 0),
   torch_reference=lambda torch, a, b, dim=None: torch.linalg.cross(a, b, dim=0 if dim is None
                                                                    else dim))
op("linalg.vector_norm", gf.linalg.vector_norm,
   [Sample((away((3, 4)),)), Sample((away((3, 4)), 1, 1), label="l1"),
    Sample((distinct((3, 4)), float("inf"), 0), label="inf"),
    Sample((away((3, 4)), 3.0), label="p3")],
   lambda x, ord=2, dim=None: np.linalg.norm(x.reshape(-1) if dim is None else x, ord, axis=dim),
   torch_reference=lambda torch, *a, **kw: torch.linalg.vector_norm(*a, **kw))
op("linalg.matrix_norm", gf.linalg.matrix_norm,
   [Sample((away((2, 3, 4)),)), Sample((distinct((3, 4)), 1), label="ord1"),
    Sample((distinct((3, 4)), float("inf")), label="inf")],
   lambda x, ord="fro": np.linalg.norm(x, ord, axis=(-2, -1)),
   torch_reference=lambda torch, *a, **kw: torch.linalg.matrix_norm(*a, **kw))
op("linalg.cross", gf.linalg.cross, [Sample((normal((2, 3)), normal((2, 3))), {"dim": 1})],
   lambda a, b, dim: np.cross(a, b, axis=dim),
   torch_reference=lambda torch, a, b, dim: torch.linalg.cross(a, b, dim=dim))

# -- nn.functional names no other spec module registers yet (skipped once one does) ---------

from gradflow.nn import functional as F  # noqa: E402
from gradflow.testing.registry import REGISTRY  # noqa: E402


def _np_adaptive_max_pool1d(x, output_size):
    n = x.shape[-1]
    windows = [x[..., (i * n) // output_size:-(-(i + 1) * n // output_size)].max(axis=-1)
               for i in range(output_size)]
    return np.stack(windows, axis=-1)


def _np_max_unpool1d(x, indices, kernel_size):
    out = np.zeros((*x.shape[:-1], x.shape[-1] * kernel_size))
    np.put_along_axis(out, indices, x, axis=-1)
    return out


_UNPOOL_INDEX = np.array([[[0, 3, 4], [1, 2, 5]]])
_LATE = [
    ("nn.adaptive_max_pool1d", F.adaptive_max_pool1d,
     [Sample((distinct((2, 3, 7)), 3))], _np_adaptive_max_pool1d, {}),
    ("nn.max_unpool1d", F.max_unpool1d, [Sample((normal((1, 2, 3)), _UNPOOL_INDEX, 2))],
     _np_max_unpool1d, {}),
]
for _k in (1, 2, 3):
    _shape = (2, 3) + (4,) * _k
    _LATE.append((f"nn.dropout{_k}d", getattr(F, f"dropout{_k}d"),
                  [Sample((normal(_shape),), {"p": 0.5, "training": False}, label="eval"),
                   Sample((normal(_shape),), {"p": 0.0, "training": True}, label="p0")],
                  lambda x, **kw: x, {}))
for _name, _fn, _samples, _reference, _options in _LATE:
    if _name not in REGISTRY:
        op(_name, _fn, _samples, _reference,
           torch_reference=(lambda n: lambda torch, *a, **kw: getattr(
               torch.nn.functional, n)(*a, **kw))(_name[3:]), **_options)
