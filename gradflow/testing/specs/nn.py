"""Specs for gradflow.nn.functional: activations, linear, normalisation, dropout, embedding,
one_hot, pad and the losses. Each has a NumPy reference written here and, where PyTorch
has the same function, a torch reference."""

from __future__ import annotations

import math
from typing import Any

import array_api_compat.numpy as numpy_namespace
import numpy as np

import gradflow as gf
import gradflow.nn.functional as F
from gradflow.testing.registry import Sample, op, rng

R = rng(1)


def normal(*shape):
    return np.asarray(R.standard_normal(shape))


def away(*shape, low=0.3, high=1.5):
    """Values bounded away from 0 (the kinks of relu and leaky_relu)."""
    return np.where(R.random(shape) < 0.5, -1.0, 1.0) * R.uniform(low, high, shape)


def labels(classes, *shape):
    return R.integers(0, classes, shape).astype(np.int64)


def _tf(name):
    return lambda torch, *args, **kw: getattr(torch.nn.functional, name)(*args, **kw)


def _np_erf(x):
    return np.vectorize(math.erf)(x)


def _np_log_softmax(x, dim=-1):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def _np_reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](loss)


# -- activations -------------------------------------------------------------------------

UNARY = [Sample((away(3, 5),), label="2d"), Sample((away(2, 3, 4),), label="3d")]
op("nn.relu", F.relu, UNARY, lambda x: np.maximum(x, 0.0), torch_reference=_tf("relu"))
op("nn.leaky_relu", F.leaky_relu, UNARY + [Sample((away(7),), {"negative_slope": 0.2})],
   lambda x, negative_slope=0.01: np.where(x > 0, x, x * negative_slope),
   torch_reference=_tf("leaky_relu"))
op("nn.gelu", F.gelu,
   [Sample((normal(3, 5),), label="exact"),
    Sample((normal(3, 5),), {"approximate": "tanh"}, label="tanh")],
   lambda x, approximate="none": 0.5 * x * (1.0 + (
       _np_erf(x / math.sqrt(2.0)) if approximate == "none"
       else np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))),
   torch_reference=_tf("gelu"), rtol=2e-6, atol=2e-7, gradcheck_rtol=1e-3)
op("nn.sigmoid", F.sigmoid, UNARY, lambda x: 1.0 / (1.0 + np.exp(-x)),
   torch_reference=lambda torch, x: torch.sigmoid(x))
op("nn.tanh", F.tanh, UNARY, np.tanh, torch_reference=lambda torch, x: torch.tanh(x))
SOFTMAX = [Sample((normal(3, 5),), {"dim": 1}), Sample((normal(2, 3, 4),), {"dim": 0}),
           Sample((normal(2, 5) * 1e4,), {"dim": -1}, label="logits_1e4")]
op("nn.softmax", F.softmax, SOFTMAX, lambda x, dim=-1: np.exp(_np_log_softmax(x, dim)),
   torch_reference=_tf("softmax"))
op("nn.log_softmax", F.log_softmax, SOFTMAX, _np_log_softmax, torch_reference=_tf("log_softmax"))

# -- linear, normalisation ----------------------------------------------------------------


def _np_linear(x, w, b=None):
    out = x @ w.T
    return out if b is None else out + b


op("nn.linear", F.linear,
   [Sample((normal(4, 3), normal(2, 3), normal(2)), label="bias"),
    Sample((normal(2, 3, 5), normal(4, 5)), label="batched_no_bias"),
    Sample((normal(5), normal(3, 5), normal(3)), label="vector")],
   _np_linear, torch_reference=_tf("linear"))


def _np_batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
                   momentum=0.1, eps=1e-5):
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        dims = (0, *range(2, x.ndim))
        mean, var = x.mean(axis=dims, keepdims=True), x.var(axis=dims, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    out = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _positive(*shape):
    return R.uniform(0.5, 2.0, shape)


op("nn.batch_norm", F.batch_norm,
   [Sample((normal(6, 3), None, None, normal(3), normal(3)), {"training": True},
           label="train_2d"),
    Sample((normal(3, 2, 2, 3), None, None, normal(2), normal(2)), {"training": True},
           label="train_4d"),
    Sample((normal(4, 3, 2), None, None), {"training": True, "eps": 1e-3}, label="no_affine"),
    Sample((normal(5, 3), normal(3), _positive(3), normal(3), normal(3)), grad_args=(0, 3, 4),
           label="eval"),
    Sample((normal(2, 3, 2, 2), normal(3), _positive(3), normal(3), normal(3)),
           grad_args=(0, 3, 4), label="eval_4d")],
   _np_batch_norm, torch_reference=_tf("batch_norm"), rtol=1e-4, atol=1e-5)


def _np_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    out = (x - x.mean(axis=dims, keepdims=True)) / np.sqrt(x.var(axis=dims, keepdims=True) + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


op("nn.layer_norm", F.layer_norm,
   [Sample((normal(3, 5), (5,), normal(5), normal(5)), label="affine"),
    Sample((normal(2, 3, 4), (3, 4), normal(3, 4), normal(3, 4)), label="two_dims"),
    Sample((normal(4, 6), (6,)), label="plain")],
   _np_layer_norm, torch_reference=_tf("layer_norm"), rtol=1e-4, atol=1e-5)

# -- dropout, embedding, one_hot, pad -------------------------------------------------------


def _dropout(x, p):
    # a fresh generator per call: the same mask every call and on every device
    return F.dropout(x, p, training=True, generator=gf.Generator(11))


def _np_dropout(x, p):
    if p == 1.0:
        return np.zeros_like(x)
    keep = gf.Generator(11).bernoulli(1.0 - p, x.shape, numpy_namespace)
    return x * keep / (1.0 - p)


op("nn.dropout", _dropout,
   [Sample((normal(4, 5), 0.3), label="p0.3"), Sample((normal(3, 4), 0.0), label="p0"),
    Sample((normal(3, 4), 1.0), label="p1")],
   _np_dropout)


def _np_embedding(indices, weight, padding_idx=None):
    return weight[indices]


op("nn.embedding", F.embedding,
   [Sample((np.array([[0, 2, 2], [4, 1, 0]]), normal(5, 3)), label="repeats"),
    Sample((np.array([1, 0, 1]), normal(4, 2)), {"padding_idx": 3}, label="padding_unused")],
   _np_embedding, torch_reference=_tf("embedding"))
# the padding row's gradient is zero on purpose, which finite differences cannot see;
# tests/nn/test_layers.py checks that gradient against PyTorch
op("nn.embedding_padding", F.embedding,
   [Sample((np.array([3, 1, 3, 0]), normal(4, 2)), {"padding_idx": 3})],
   _np_embedding, torch_reference=_tf("embedding"), differentiable=False)
op("nn.one_hot", F.one_hot,
   [Sample((np.array([0, 3, 1, 3]), 5)), Sample((np.array([[2, 0], [1, 2]]),), label="inferred")],
   lambda t, num_classes=-1: np.eye(num_classes if num_classes > 0 else t.max() + 1,
                                    dtype=np.int64)[t],
   torch_reference=lambda torch, t, *a: torch.nn.functional.one_hot(t, *a),
   differentiable=False)

_NP_PAD_MODES: dict[str, Any] = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
                 "circular": "wrap"}


def _np_pad(x, pad, mode="constant", value=None):
    widths = [(0, 0)] * (x.ndim - len(pad) // 2)
    widths += [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(len(pad) // 2))]
    extra = {"constant_values": value or 0.0} if mode == "constant" else {}
    return np.pad(x, widths, mode=_NP_PAD_MODES[mode], **extra)


op("nn.pad", F.pad,
   [Sample((normal(2, 3), (1, 2)), {"value": 0.5}, label="constant"),
    Sample((normal(2, 3, 5), (2, 1)), {"mode": "reflect"}, label="reflect_1d"),
    Sample((normal(1, 2, 3, 4), (1, 2, 2, 1)), {"mode": "reflect"}, label="reflect_2d"),
    Sample((normal(2, 3, 4), (2, 3)), {"mode": "replicate"}, label="replicate"),
    Sample((normal(1, 2, 3, 3), (1, 2, 0, 2)), {"mode": "circular"}, label="circular")],
   _np_pad, torch_reference=_tf("pad"))

# -- losses ---------------------------------------------------------------------------------


def _np_classes_last(x):
    if x.ndim == 1:
        return x[None, :]
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _np_cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0, log_probs=False):
    rows = _np_classes_last(logits)
    logp = rows if log_probs else _np_log_softmax(rows, 1)
    classes = rows.shape[1]
    w = np.ones(classes) if weight is None else weight
    sample_shape = logits.shape[:1] + logits.shape[2:] if logits.ndim > 1 else ()
    if target.dtype.kind == "f":
        probs = _np_classes_last(target) * (1 - label_smoothing) + label_smoothing / classes
        return _np_reduce(-(logp * probs * w).sum(1).reshape(sample_shape), reduction)
    flat = target.reshape(-1)
    valid = flat != ignore_index
    safe = np.where(valid, flat, 0)
    row_weight = w[safe] * valid
    loss = -logp[np.arange(flat.size), safe] * row_weight
    smooth = -(logp * w).sum(1) * valid
    loss = (1 - label_smoothing) * loss + label_smoothing / classes * smooth
    if reduction == "none":
        return loss.reshape(sample_shape)
    return loss.sum() if reduction == "sum" else loss.sum() / row_weight.sum()


_WEIGHT = R.uniform(0.5, 2.0, 4)
_IGNORED = np.array([1, -100, 3, 0, -100, 2])
CE_SAMPLES = [
    Sample((normal(5, 4), labels(4, 5)), label="basic"),
    Sample((normal(5, 4), labels(4, 5)), {"reduction": "sum"}, label="sum"),
    Sample((normal(5, 4), labels(4, 5)), {"reduction": "none"}, label="none"),
    Sample((normal(5, 4), labels(4, 5), _WEIGHT), grad_args=(0,), label="weight"),
    Sample((normal(6, 4), _IGNORED, _WEIGHT), grad_args=(0,), label="ignore_weight"),
    Sample((normal(6, 4), np.array([1, 5, 3, 0, 5, 2])), {"ignore_index": 5}, label="ignore"),
    Sample((normal(5, 4), labels(4, 5)), {"label_smoothing": 0.1}, label="smoothing"),
    Sample((normal(6, 4), _IGNORED, _WEIGHT), {"label_smoothing": 0.2}, grad_args=(0,),
           label="smoothing_weight_ignore"),
    Sample((normal(2, 3, 2, 2), labels(3, 2, 2, 2)), label="spatial"),
    Sample((normal(2, 3, 4), labels(3, 2, 4)), {"reduction": "none"}, label="sequence_none"),
    Sample((normal(4), np.array(2)), label="unbatched"),
    Sample((normal(4, 5) * 1e4, labels(5, 4)), label="logits_1e4"),
    Sample((normal(4, 3), np.exp(_np_log_softmax(normal(4, 3), 1))), label="probabilities"),
    Sample((normal(4, 3), np.exp(_np_log_softmax(normal(4, 3), 1)), R.uniform(0.5, 2.0, 3)),
           {"label_smoothing": 0.1, "reduction": "sum"}, grad_args=(0, 1),
           label="probabilities_weight_smoothing"),
]
op("nn.cross_entropy", F.cross_entropy, CE_SAMPLES, _np_cross_entropy,
   torch_reference=_tf("cross_entropy"), rtol=1e-5, atol=1e-5)
op("nn.nll_loss", F.nll_loss,
   [Sample((_np_log_softmax(normal(5, 4), 1), labels(4, 5)), label="basic"),
    Sample((normal(6, 4), _IGNORED, _WEIGHT), grad_args=(0,), label="ignore_weight"),
    Sample((normal(2, 3, 4), labels(3, 2, 4)), {"reduction": "none"}, label="sequence")],
   lambda x, t, weight=None, **kw: _np_cross_entropy(x, t, weight, log_probs=True, **kw),
   torch_reference=_tf("nll_loss"))

REGRESSION = [Sample((normal(3, 4), normal(3, 4)), label="mean"),
              Sample((normal(5), normal(5)), {"reduction": "sum"}, label="sum"),
              Sample((normal(2, 3), normal(2, 3)), {"reduction": "none"}, label="none")]
op("nn.mse_loss", F.mse_loss, REGRESSION,
   lambda x, t, reduction="mean": _np_reduce((x - t) ** 2, reduction),
   torch_reference=_tf("mse_loss"))
op("nn.l1_loss", F.l1_loss, REGRESSION,
   lambda x, t, reduction="mean": _np_reduce(np.abs(x - t), reduction),
   torch_reference=_tf("l1_loss"))


def _np_smooth_l1(x, t, reduction="mean", beta=1.0):
    d = np.abs(x - t)
    loss = d if beta == 0 else np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _np_reduce(loss, reduction)


op("nn.smooth_l1_loss", F.smooth_l1_loss,
   REGRESSION + [Sample((normal(4, 3), normal(4, 3)), {"beta": 0.5}, label="beta"),
                 Sample((normal(6), normal(6)), {"beta": 0.0}, label="beta0")],
   _np_smooth_l1, torch_reference=_tf("smooth_l1_loss"))


def _np_bce(p, t, weight=None, reduction="mean"):
    loss = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))
    return _np_reduce(loss if weight is None else loss * weight, reduction)


def _probabilities(*shape):
    return R.uniform(0.05, 0.95, shape)


op("nn.binary_cross_entropy", F.binary_cross_entropy,
   [Sample((_probabilities(3, 4), _probabilities(3, 4)), label="soft"),
    Sample((_probabilities(6), (R.random(6) < 0.5).astype(np.float64), R.uniform(0.5, 2, 6)),
           {"reduction": "none"}, grad_args=(0,), label="weight_none")],
   _np_bce, torch_reference=_tf("binary_cross_entropy"))


def _np_bce_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    log_sig = -np.logaddexp(0.0, -x)
    log_not_sig = -np.logaddexp(0.0, x)
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * log_sig + (1 - t) * log_not_sig)
    return _np_reduce(loss if weight is None else loss * weight, reduction)


def _bce_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    return F.binary_cross_entropy_with_logits(x, t, weight, reduction, pos_weight)


def _torch_bce_logits(torch, x, t, weight=None, pos_weight=None, reduction="mean"):
    return torch.nn.functional.binary_cross_entropy_with_logits(
        x, t, weight, reduction=reduction, pos_weight=pos_weight)


op("nn.binary_cross_entropy_with_logits", _bce_logits,
   [Sample((normal(3, 4), _probabilities(3, 4)), label="soft"),
    Sample((normal(4, 3) * 30.0, (R.random((4, 3)) < 0.5).astype(np.float64)), label="large"),
    Sample((normal(4, 3), _probabilities(4, 3), R.uniform(0.5, 2, 3), R.uniform(0.5, 3.0, 3)),
           {"reduction": "sum"}, grad_args=(0, 1), label="weights")],
   _np_bce_logits, torch_reference=_torch_bce_logits)
