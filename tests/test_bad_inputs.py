"""Bad input at every public entry point: a typed error that names what was wrong, nothing changed.

Each case asserts three things: the error is a gradflow error that is also the matching
built-in (so `except ValueError` keeps working), its message names the offending thing
(op, layer path, shape, dtype, device or file), and, where there is state, that nothing
changed. The tables are grouped by entry point; one row is one case.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow import nn
from gradflow.checkpoint import load_checkpoint, save_checkpoint
from gradflow.cli import build_parser, main
from gradflow.data import DataLoader, TensorDataset
from gradflow.errors import (
    AllocationError,
    ArgumentTypeError,
    BackendUnavailableError,
    CheckpointError,
    CheckpointNotFoundError,
    ConfigError,
    DatasetError,
    DeviceMismatchError,
    DimensionError,
    DTypeError,
    GradflowError,
    GraphError,
    IndexingError,
    NonFiniteError,
    OutOfRangeError,
    ShapeError,
    StateDictError,
)

OTHER = "strict:device1"  # a second device: array-api-strict's simulated device


def check(call, error, builtin, *phrases):
    """Run `call`; assert it raises `error`, also a `builtin`, with every phrase in the message."""
    with pytest.raises(error) as info:
        call()
    exc = info.value
    assert isinstance(exc, GradflowError), f"{type(exc).__name__} is not a gradflow error"
    assert isinstance(exc, builtin), f"{type(exc).__name__} is not a {builtin.__name__}"
    message = str(exc)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in the message {message!r}"
    return exc


def case(call, error, builtin, *phrases, id):
    return pytest.param(call, error, builtin, phrases, id=id)


# -- gf.tensor and the creation functions ----------------------------------------------------

CREATION = [
    case(lambda: gf.tensor([[1.0, 2.0], [3.0]]), ShapeError, ValueError, "unequal lengths",
         id="ragged-2d"),
    case(lambda: gf.tensor([[[1.0, 2.0]], [[3.0]]]), ShapeError, ValueError, "unequal lengths",
         id="ragged-3d"),
    case(lambda: gf.tensor("abc"), DTypeError, TypeError, "strings", id="string"),
    case(lambda: gf.tensor(["a", "b"]), DTypeError, TypeError, "strings", id="list-of-strings"),
    case(lambda: gf.tensor(b"ab"), DTypeError, TypeError, "bytes", id="bytes"),
    case(lambda: gf.tensor(object()), DTypeError, TypeError, "Python objects", id="object"),
    case(lambda: gf.tensor([1.0, object()]), DTypeError, TypeError, "Python objects",
         id="list-with-object"),
    case(lambda: gf.tensor(None), DTypeError, TypeError, "Python objects", id="none"),
    case(lambda: gf.tensor({"a": 1.0}), DTypeError, TypeError, "Python objects", id="dict"),
    case(lambda: gf.tensor(1 + 2j), DTypeError, TypeError, "complex", id="complex-scalar"),
    case(lambda: gf.tensor([1j, 2.0]), DTypeError, TypeError, "complex", id="complex-list"),
    case(lambda: gf.tensor(np.zeros(2, np.complex64)), DTypeError, TypeError, "complex",
         id="complex-numpy"),
    case(lambda: gf.tensor([1.0], dtype="complex64"), DTypeError, TypeError, "'complex64'",
         id="dtype-name-complex64"),
    case(lambda: gf.tensor([1.0], dtype=np.float32), DTypeError, TypeError, "gradflow dtype",
         id="dtype-numpy-type"),
    case(lambda: gf.zeros(2, dtype=gf.float16, device="strict"), DTypeError, TypeError,
         "'strict'", "float16", id="dtype-missing-on-device"),
    case(lambda: gf.zeros(2, dtype=gf.float64, device="strict:no_float64"), DTypeError, TypeError,
         "no_float64", "float64", id="float64-on-no-float64-device"),
    case(lambda: gf.tensor([1, 2], requires_grad=True), DTypeError, TypeError, "int64",
         id="requires-grad-on-int"),
    case(lambda: gf.tensor([1.0], device="tpu"), BackendUnavailableError, RuntimeError, "'tpu'",
         id="unknown-device"),
    case(lambda: gf.tensor([1.0], device="strict:device9"), BackendUnavailableError,
         RuntimeError, "'device9'", id="unknown-strict-device"),
    case(lambda: gf.zeros(-1), ConfigError, ValueError, "(-1,)", id="negative-size"),
    case(lambda: gf.zeros(2.5), ConfigError, ValueError, "2.5", id="float-size"),
    case(lambda: gf.randn(3, -2), ConfigError, ValueError, "(3, -2)", id="randn-negative-size"),
    case(lambda: gf.arange(0, 5, 0), ConfigError, ValueError, "arange", "step",
         id="arange-zero-step"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", CREATION)
def test_tensor_creation(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- ops: shapes that do not broadcast ----------------------------------------------------------

A, B = gf.ones(2, 3), gf.ones(4)

BROADCAST = [
    case(lambda: A + B, ShapeError, ValueError, "add", "(2, 3)", "(4,)", id="add"),
    case(lambda: A - B, ShapeError, ValueError, "(2, 3)", "(4,)", id="sub"),
    case(lambda: A * gf.ones(3, 2), ShapeError, ValueError, "mul", "(3, 2)", id="mul"),
    case(lambda: A / gf.ones(2), ShapeError, ValueError, "div", "(2,)", id="div"),
    case(lambda: gf.maximum(A, B), ShapeError, ValueError, "maximum", "(4,)", id="maximum"),
    case(lambda: gf.where(A > 0, B, 0.0), ShapeError, ValueError, "where", "(4,)", id="where"),
    case(lambda: A == B, ShapeError, ValueError, "eq", "(4,)", id="eq"),
    case(lambda: A @ A, ShapeError, ValueError, "matmul", "(2, 3)", "3 != 2", id="matmul"),
    case(lambda: gf.ones(()) @ B, ShapeError, ValueError, "matmul", "1-d", id="matmul-0d"),
    case(lambda: gf.cat([A, gf.ones(2, 4)], dim=0), ShapeError, ValueError, "cat", "(2, 4)",
         id="cat"),
    case(lambda: gf.stack([B, gf.ones(3)]), ShapeError, ValueError, "stack", "(3,)", id="stack"),
    case(lambda: A.reshape(4, 2), ShapeError, ValueError, "reshape", "(4, 2)", id="reshape"),
    case(lambda: A.broadcast_to(3, 3), ShapeError, ValueError, "broadcast_to", "(3, 3)",
         id="broadcast_to"),
    case(lambda: A.sum(dim=2), ShapeError, ValueError, "sum", "dim 2", id="sum-dim-range"),
    case(lambda: A.softmax(dim=-3), ShapeError, ValueError, "softmax", "dim -3",
         id="softmax-dim-range"),
    case(lambda: A.__setitem__(0, gf.ones(4)), ShapeError, ValueError, "setitem", "(4,)",
         id="setitem-shape"),
    case(lambda: A.item(), ShapeError, ValueError, "item", "(2, 3)", id="item-of-many"),
    case(lambda: bool(A), ShapeError, ValueError, "6 elements", id="bool-of-many"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", BROADCAST)
def test_ops_with_shapes_that_do_not_fit(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- ops: wrong dtypes and bad arguments ----------------------------------------------------------

DTYPES = [
    case(lambda: gf.ones(3)[gf.tensor([0.0, 1.0])], IndexingError, IndexError, "float32",
         "integer or bool", id="float-index-tensor"),
    case(lambda: gf.ones(3)[[0.5]], IndexingError, IndexError, "float32", id="float-index-list"),
    case(lambda: gf.ones(3)[1.0], IndexingError, IndexError, "1.0", "float", id="float-index"),
    case(lambda: gf.ones(3)[5], IndexingError, IndexError, "5", "(3,)", id="index-out-of-range"),
    case(lambda: gf.ones(3)[gf.tensor([0, 3])], IndexingError, IndexError, "size 3",
         id="index-tensor-out-of-range"),
    case(lambda: list(range(10))[gf.tensor(1.5)], DTypeError, TypeError, "float32",
         id="float-tensor-as-python-index"),
    case(lambda: gf.ones(2, 3).sum(dim=1.0), DTypeError, TypeError, "sum", "1.0",
         id="float-dim"),
    case(lambda: gf.ones(2) & gf.ones(2), DTypeError, TypeError, "bitwise_and", "float32",
         id="bitwise-and-of-floats"),
    case(lambda: gf.ones(2) + "a", DTypeError, TypeError, "strings", id="add-string"),
    case(lambda: gf.ones(2).clamp(), ConfigError, ValueError, "clamp", "min and max",
         id="clamp-without-bounds"),
    case(lambda: gf.cat([]), ConfigError, ValueError, "cat", "non-empty", id="cat-empty"),
    case(lambda: gf.pad(gf.ones(4), (-5, 0)), ShapeError, ValueError, "pad", "(-5, 0)",
         "(4,)", id="pad-crops-more-than-the-shape-holds"),
    case(lambda: gf.ones(4).split(0), ConfigError, ValueError, "split", "0", id="split-zero"),
    case(lambda: nn.Linear(2, 2).to(gf.int64), DTypeError, TypeError, "int64",
         id="module-to-int"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", DTYPES)
def test_ops_with_wrong_dtypes_or_arguments(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


@pytest.mark.parametrize("op", ["log", "exp", "sqrt", "sin", "tanh", "sigmoid"])
def test_integer_input_to_float_math_is_promoted_like_pytorch(op):
    # The decided behaviour: as torch.log(torch.tensor([1, 2])), integer tensors are
    # converted to the default float dtype (float32), never an error and never integer math.
    out = getattr(gf, op)(gf.tensor([1, 2, 4]))
    assert out.dtype is gf.float32
    expected = getattr(np, {"tanh": "tanh", "sigmoid": "exp"}.get(op, op))(
        np.array([1.0, 2.0, 4.0], np.float32))
    if op == "sigmoid":
        expected = 1.0 / (1.0 + np.exp(-np.array([1.0, 2.0, 4.0], np.float32)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    torch = pytest.importorskip("torch")
    reference = getattr(torch, op)(torch.tensor([1, 2, 4]))
    assert reference.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-6)


# -- ops: mixed devices --------------------------------------------------------------------------

C, D = gf.ones(2, 2), gf.ones(2, 2, device=OTHER)

DEVICES = [
    case(lambda: C + D, DeviceMismatchError, RuntimeError, "add", id="add"),
    case(lambda: C * D, DeviceMismatchError, RuntimeError, "mul", id="mul"),
    case(lambda: C / D, DeviceMismatchError, RuntimeError, "div", id="div"),
    case(lambda: C @ D, DeviceMismatchError, RuntimeError, "matmul", id="matmul"),
    case(lambda: gf.maximum(C, D), DeviceMismatchError, RuntimeError, "maximum", id="maximum"),
    case(lambda: gf.where(C > 0, C, D), DeviceMismatchError, RuntimeError, "where", id="where"),
    case(lambda: C == D, DeviceMismatchError, RuntimeError, "eq", id="eq"),
    case(lambda: gf.cat([C, D]), DeviceMismatchError, RuntimeError, "cat", id="cat"),
    case(lambda: gf.stack([C, D]), DeviceMismatchError, RuntimeError, id="stack"),
    case(lambda: C[gf.tensor([0], device=OTHER)], DeviceMismatchError, RuntimeError, "index",
         id="index"),
    case(lambda: C.__setitem__(0, gf.ones(2, device=OTHER)), DeviceMismatchError, RuntimeError,
         id="setitem"),
    case(lambda: nn.Linear(2, 3)(D), DeviceMismatchError, RuntimeError, "linear",
         id="linear-input"),
    case(lambda: F.cross_entropy(C, gf.tensor([0, 1], device=OTHER)), DeviceMismatchError,
         RuntimeError, "cross_entropy", id="cross-entropy-target"),
    case(lambda: F.mse_loss(C, D), DeviceMismatchError, RuntimeError, id="mse-target"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", DEVICES)
def test_ops_on_two_devices_name_both(call, error, builtin, phrases):
    check(call, error, builtin, "cpu", OTHER, "different devices", *phrases)


def test_backward_with_a_gradient_on_another_device():
    x = gf.ones(2, requires_grad=True)
    y = x * 2.0
    check(lambda: y.backward(gf.ones(2, device=OTHER)), DeviceMismatchError, RuntimeError,
          "backward", "cpu", OTHER)
    assert x.grad is None


# -- autograd misuse -------------------------------------------------------------------------------


def _backward_twice():
    x = gf.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _leaf_changed_in_place():
    x = gf.ones(2, requires_grad=True)
    x.add_(1.0)


AUTOGRAD = [
    case(lambda: gf.ones(2).sum().backward(), GraphError, RuntimeError, "requires_grad=True",
         id="backward-without-grad"),
    case(lambda: (gf.ones(2, requires_grad=True) * 2).backward(), GraphError, RuntimeError,
         "(2,)", "gradient=", id="backward-of-non-scalar"),
    case(lambda: (gf.ones(2, requires_grad=True) * 2).backward(gf.ones(3)), ShapeError,
         ValueError, "(3,)", "(2,)", id="backward-gradient-shape"),
    case(_backward_twice, GraphError, RuntimeError, "retain_graph=True", id="backward-twice"),
    case(lambda: gf.grad((gf.ones(2, requires_grad=True) * 2).sum(),
                         gf.ones(3, requires_grad=True)),
         GraphError, RuntimeError, "(3,)", "allow_unused", id="grad-unused-input"),
    case(_leaf_changed_in_place, GraphError, RuntimeError, "add_", "no_grad",
         id="leaf-in-place-while-recording"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", AUTOGRAD)
def test_autograd_misuse(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- modules given inputs of the wrong shape or dtype -------------------------------------------


def _features_model() -> nn.Module:
    """A mis-built model: features.2 gives 7 features, features.3 expects 8."""
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 7), nn.Linear(8, 6)),
        head=nn.Linear(6, 2),
    ))


MODULES = [
    case(lambda: nn.Linear(4, 2)(gf.randn(3, 5)), ShapeError, ValueError, "Linear",
         "(..., 4)", "(3, 5)", id="linear-last-dim"),
    case(lambda: nn.Linear(4, 2)(gf.tensor(1.0)), ShapeError, ValueError, "Linear", "()",
         id="linear-0d"),
    case(lambda: _features_model()(gf.randn(3, 4)), ShapeError, ValueError,
         "Linear 'features.3'", "(..., 8)", "(3, 7)", id="nested-layer-path"),
    case(lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))(gf.randn(3, 8)),
         ShapeError, ValueError, "Linear '0'", "(3, 8)", id="sequential-first-layer"),
    case(lambda: nn.Sequential(nn.Flatten(), nn.BatchNorm1d(3))(gf.randn(2, 4)), ShapeError,
         ValueError, "BatchNorm1d '1'", "(2, 4)", id="batchnorm-channels"),
    case(lambda: nn.BatchNorm2d(3)(gf.randn(2, 3, 4)), ShapeError, ValueError, "BatchNorm2d",
         "(2, 3, 4)", id="batchnorm2d-rank"),
    case(lambda: nn.LayerNorm(3)(gf.randn(2, 4)), ShapeError, ValueError, "LayerNorm",
         "(2, 4)", id="layernorm"),
    case(lambda: nn.Flatten()(gf.randn(3)), ShapeError, ValueError, "Flatten", "(3,)",
         id="flatten-1d"),
    case(lambda: nn.Embedding(3, 2)(gf.randn(2)), DTypeError, TypeError, "Embedding", "float32",
         id="embedding-float-indices"),
    case(lambda: nn.Embedding(3, 2)(gf.tensor([1, 5])), IndexingError, IndexError, "size 3",
         id="embedding-index-out-of-range"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", MODULES)
def test_modules_given_wrong_inputs(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


@pytest.mark.skipif(not hasattr(nn, "Conv2d"), reason="gradflow.nn.conv is not written yet")
@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 3, 8)], ids=["channels", "rank"])
def test_conv2d_given_wrong_input_names_its_path(shape):
    model = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))))
    check(lambda: model(gf.randn(*shape)), ShapeError, ValueError, "Conv2d", "features.0",
          str(shape))


def test_a_rejected_input_leaves_the_layer_unchanged():
    layer = nn.BatchNorm1d(3)
    before = {k: v.numpy().copy() for k, v in layer.state_dict().items()}
    check(lambda: layer(gf.randn(4, 5)), ShapeError, ValueError, "BatchNorm1d")
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key])


# -- losses --------------------------------------------------------------------------------------

LOGITS = gf.randn(4, 3)

LOSSES = [
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, 1, 3, 2])), ConfigError, ValueError,
         "cross_entropy", "label 3", "3 classes", id="label-equal-to-classes"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, 1, 100, 2])), ConfigError, ValueError,
         "label 100", id="label-far-out-of-range"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, -1, 2, 2])), ConfigError, ValueError,
         "label -1", "ignore_index", id="negative-label"),
    case(lambda: nn.CrossEntropyLoss()(LOGITS, gf.tensor([0, 1, 9, 2])), ConfigError,
         ValueError, "label 9", id="module-label-out-of-range"),
    case(lambda: F.nll_loss(F.log_softmax(LOGITS, 1), gf.tensor([5, 0, 0, 0])), ConfigError,
         ValueError, "nll_loss", "label 5", id="nll-label-out-of-range"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, 1])), ShapeError, ValueError,
         "cross_entropy", "(2,)", "(4,)", id="target-shape"),
    case(lambda: F.cross_entropy(LOGITS, gf.randn(4, 2)), ShapeError, ValueError, "(4, 3)",
         "(4, 2)", id="probability-target-shape"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0.0, 1.0, 2.0, 0.0])), DTypeError, TypeError,
         "cross_entropy", "float32", "integers", "(4, 3)", id="float-class-labels"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([True, False, True, False])), DTypeError,
         TypeError, "cross_entropy", "bool", "integers", id="bool-class-labels"),
    case(lambda: F.nll_loss(F.log_softmax(LOGITS, 1), gf.tensor([True, False, True, False])),
         DTypeError, TypeError, "nll_loss", "bool", id="nll-bool-labels"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, 1, 2, 0]), reduction="avg"), ConfigError,
         ValueError, "'avg'", id="reduction"),
    case(lambda: F.cross_entropy(LOGITS, gf.tensor([0, 1, 2, 0]), label_smoothing=1.5),
         ConfigError, ValueError, "label_smoothing", id="label-smoothing"),
    case(lambda: F.nll_loss(LOGITS, gf.randn(4)), DTypeError, TypeError, "nll_loss", "float32",
         id="nll-float-target"),
    case(lambda: F.mse_loss(gf.randn(3), gf.randn(4)), ShapeError, ValueError, "mse_loss",
         "(3,)", "(4,)", id="mse-shape"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", LOSSES)
def test_losses(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- optimizers ------------------------------------------------------------------------------------


def _params():
    return nn.Linear(2, 2).parameters()


OPTIMIZERS = [
    case(lambda: gf.optim.SGD(_params(), lr=-1.0), ConfigError, ValueError, "SGD", "lr=-1.0",
         id="negative-lr"),
    case(lambda: gf.optim.Adam(_params(), lr=float("nan")), ConfigError, ValueError, "Adam",
         "lr=nan", id="nan-lr"),
    case(lambda: gf.optim.Adam(_params(), betas=(0.9, 1.0)), ConfigError, ValueError, "betas",
         id="beta-of-one"),
    case(lambda: gf.optim.SGD([], lr=0.1), ConfigError, ValueError, "empty", id="no-params"),
    case(lambda: gf.optim.SGD(gf.ones(2, requires_grad=True), lr=0.1), ConfigError, ValueError,
         "single tensor", id="bare-tensor"),
    case(lambda: gf.optim.SGD(_params(), lr=0.1, nesterov=True), ConfigError, ValueError,
         "nesterov", id="nesterov-without-momentum"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", OPTIMIZERS)
def test_optimizer_options(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- DataLoader ------------------------------------------------------------------------------------

DATASET = TensorDataset(gf.randn(5, 2), gf.arange(5))

LOADERS = [
    case(lambda: DataLoader(DATASET, batch_size=0), ConfigError, ValueError, "batch_size", "0",
         id="batch-size-zero"),
    case(lambda: DataLoader(DATASET, batch_size=-3), ConfigError, ValueError, "-3",
         id="batch-size-negative"),
    case(lambda: DataLoader(DATASET, batch_size=2.5), ConfigError, ValueError, "2.5",
         id="batch-size-float"),
    case(lambda: DataLoader(DATASET, batch_size="4"), ConfigError, ValueError, "'4'",
         id="batch-size-string"),
    case(lambda: DataLoader(DATASET, batch_size=None), ConfigError, ValueError, "None",
         id="batch-size-none"),
    case(lambda: DataLoader(DATASET, batch_size=True), ConfigError, ValueError, "True",
         id="batch-size-bool"),
    case(lambda: DataLoader(TensorDataset(gf.randn(0, 2)), batch_size=2), DatasetError,
         ValueError, "empty", id="empty-tensor-dataset"),
    case(lambda: DataLoader([], batch_size=2), DatasetError, ValueError, "empty",
         id="empty-list"),
    case(lambda: DataLoader(DATASET, batch_size=2, sampler=[0, 1], shuffle=True), ConfigError,
         ValueError, "sampler", id="sampler-and-shuffle"),
    case(lambda: TensorDataset(gf.randn(5, 2), gf.arange(4)), DatasetError, ValueError,
         "(5, 2)", "(4,)", id="tensor-dataset-lengths"),
]


@pytest.mark.parametrize("call, error, builtin, phrases", LOADERS)
def test_data_loader(call, error, builtin, phrases):
    check(call, error, builtin, *phrases)


# -- Module.load_state_dict and Optimizer.load_state_dict ------------------------------------------


def _model() -> nn.Module:
    gf.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _values(model: nn.Module) -> dict:
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


def _assert_same_values(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def _without(key):
    return lambda sd: {k: v for k, v in sd.items() if k != key}


def _with(key, value):
    return lambda sd: {**sd, key: value}


def _all_three(sd):
    sd = _without("2.bias")(sd)
    sd = _with("3.weight", gf.zeros(2, 2))(sd)
    return _with("0.weight", gf.zeros(4, 4))(sd)


STATE_DICTS = [
    pytest.param(_without("2.bias"), ["1 problem", "missing key '2.bias'"], id="missing"),
    pytest.param(_with("3.weight", gf.zeros(2, 2)), ["unexpected key '3.weight'"],
                 id="unexpected"),
    pytest.param(_with("0.weight", gf.zeros(4, 4)),
                 ["'0.weight': shape (4, 4) in the state dict, (4, 3) in the model"],
                 id="wrong-shape"),
    pytest.param(_all_three, ["3 problem(s)", "missing key '2.bias'", "unexpected key '3.weight'",
                              "'0.weight': shape (4, 4)"], id="all-three-in-one-error"),
    pytest.param(_with("2.bias", "abc"), ["'2.bias'", "got str"], id="value-not-an-array"),
    pytest.param(lambda sd: None, ["expected a mapping", "NoneType"], id="none"),
    pytest.param(lambda sd: list(sd.items()), ["expected a mapping", "list"], id="list"),
]


@pytest.mark.parametrize("mutate, phrases", STATE_DICTS)
def test_load_state_dict_reports_every_problem_and_changes_nothing(mutate, phrases):
    model = _model()
    before = _values(model)
    source = {k: gf.full(v.shape, 7.0) for k, v in model.state_dict().items()}
    check(lambda: model.load_state_dict(mutate(source)), StateDictError, RuntimeError,
          "Sequential", *phrases)
    _assert_same_values(before, _values(model))


def test_load_state_dict_lists_all_problems_in_one_error():
    model = _model()
    source = {k: gf.full(v.shape, 7.0) for k, v in model.state_dict().items()}
    exc = check(lambda: model.load_state_dict(_all_three(source)), StateDictError, RuntimeError,
                "nothing was changed")
    problems = str(exc).split("\n")[1:]
    assert len(problems) == 3 and all(line.startswith("  ") for line in problems)


def test_load_state_dict_wrong_shape_is_an_error_even_when_not_strict():
    model = _model()
    before = _values(model)
    bad = _with("0.weight", gf.zeros(4, 4))(dict(model.state_dict()))
    check(lambda: model.load_state_dict(bad, strict=False), StateDictError, RuntimeError,
          "'0.weight'")
    _assert_same_values(before, _values(model))


def _trained_optimizer(kind):
    model = _model()
    optimizer = kind(model.parameters(), lr=0.1)
    model(gf.randn(5, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def _optimizer_values(optimizer) -> tuple:
    sd = optimizer.state_dict()
    state = {(index, key): (value.numpy().copy() if isinstance(value, gf.Tensor) else value)
             for index, entries in sd["state"].items() for key, value in entries.items()}
    return state, copy.deepcopy(sd["param_groups"])


def _assert_same_optimizer(before, after) -> None:
    assert before[0].keys() == after[0].keys()
    for key, value in before[0].items():
        np.testing.assert_array_equal(after[0][key], value, err_msg=str(key))
    assert before[1] == after[1]


def test_optimizer_load_state_dict_of_another_kind_changes_nothing():
    _, sgd = _trained_optimizer(lambda p, lr: gf.optim.SGD(p, lr=lr, momentum=0.9))
    _, adam = _trained_optimizer(gf.optim.Adam)
    before = _optimizer_values(adam)
    check(lambda: adam.load_state_dict(sgd.state_dict()), StateDictError, RuntimeError, "Adam",
          "parameter 0", "exp_avg")
    _assert_same_optimizer(before, _optimizer_values(adam))


def test_optimizer_load_state_dict_with_other_group_count_changes_nothing():
    _, adam = _trained_optimizer(gf.optim.Adam)
    before = _optimizer_values(adam)
    sd = adam.state_dict()
    sd["param_groups"] = sd["param_groups"] * 2
    check(lambda: adam.load_state_dict(sd), StateDictError, RuntimeError, "2 parameter group")
    _assert_same_optimizer(before, _optimizer_values(adam))


# -- checkpoint files: gf.load into a model and an optimizer ---------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"


def _flip(position):
    def damage(raw: bytes) -> bytes:
        data = bytearray(raw)
        data[position] ^= 0xFF
        return bytes(data)
    return damage


def _header_middle(raw: bytes) -> bytes:
    length = int.from_bytes(raw[:8], "little")
    return _flip(8 + length // 2)(raw)


def _metadata_digit(raw: bytes) -> bytes:
    # the lr inside the optimizer's JSON metadata: 0.1 becomes 0.0, still valid JSON
    at = raw.index(b'lr\\": 0.1') + len(b'lr\\": 0.')
    data = bytearray(raw)
    data[at] ^= 0x01
    return bytes(data)


def _newer(raw: bytes) -> bytes:
    assert b'"format_version":"1"' in raw
    return raw.replace(b'"format_version":"1"', b'"format_version":"9"')


DAMAGED = [
    pytest.param(lambda raw: raw[: len(raw) // 2], "truncated", id="truncated-half"),
    pytest.param(lambda raw: raw[:-1], "truncated", id="truncated-last-byte"),
    pytest.param(lambda raw: raw[:4], "4 bytes", id="truncated-to-4-bytes"),
    pytest.param(lambda raw: b"", "0 bytes", id="empty"),
    pytest.param(_flip(0), "not a valid safetensors file", id="flipped-length-byte"),
    pytest.param(_header_middle, "not a valid safetensors file", id="flipped-header-byte"),
    pytest.param(_flip(-3), "SHA-256", id="flipped-tensor-byte"),
    pytest.param(_metadata_digit, "SHA-256", id="flipped-metadata-digit"),
    pytest.param(lambda raw: PNG, "another format", id="png"),
    pytest.param(lambda raw: pickle.dumps({"0.weight": [[1.0] * 3] * 4}), "another format",
                 id="pickle"),
    pytest.param(lambda raw: b"PK\x03\x04" + bytes(60), "another format",
                 id="zip-torch-save"),
    pytest.param(_newer, "newer gradflow", id="newer-version"),
]


@pytest.fixture
def checkpointed(tmp_path):
    """A trained model and optimizer, their checkpoint's bytes, and a snapshot of everything."""
    model, optimizer = _trained_optimizer(lambda p, lr: gf.optim.SGD(p, lr=lr, momentum=0.9))
    path = tmp_path / "good.safetensors"
    save_checkpoint(path, model, optimizer)
    gf.manual_seed(123)  # the live generator differs from the saved one
    raw = path.read_bytes()

    def snapshot():
        return _values(model), _optimizer_values(optimizer), gf.get_rng_state()

    return model, optimizer, raw, snapshot


def _assert_untouched(before, after) -> None:
    _assert_same_values(before[0], after[0])
    _assert_same_optimizer(before[1], after[1])
    assert before[2] == after[2]


@pytest.mark.parametrize("damage, phrase", DAMAGED)
def test_damaged_checkpoint_names_the_file_and_touches_nothing(tmp_path, checkpointed, damage,
                                                               phrase):
    model, optimizer, raw, snapshot = checkpointed
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(damage(raw))
    before = snapshot()
    check(lambda: load_checkpoint(path, model, optimizer), CheckpointError, ValueError,
          str(path), phrase)
    _assert_untouched(before, snapshot())


def test_missing_checkpoint_is_file_not_found(tmp_path, checkpointed):
    model, optimizer, _, snapshot = checkpointed
    path = tmp_path / "nowhere.safetensors"
    before = snapshot()
    check(lambda: load_checkpoint(path, model, optimizer), CheckpointNotFoundError,
          FileNotFoundError, str(path), "not found")
    _assert_untouched(before, snapshot())


def test_directory_instead_of_checkpoint(tmp_path, checkpointed):
    model, optimizer, _, snapshot = checkpointed
    before = snapshot()
    check(lambda: load_checkpoint(tmp_path, model, optimizer), CheckpointError, ValueError,
          str(tmp_path))
    _assert_untouched(before, snapshot())


def test_checkpoint_without_optimizer_state(tmp_path, checkpointed):
    model, optimizer, _, snapshot = checkpointed
    path = tmp_path / "model-only.safetensors"
    save_checkpoint(path, model)
    before = snapshot()
    check(lambda: load_checkpoint(path, model, optimizer), CheckpointError, ValueError, str(path),
          "no optimizer state")
    _assert_untouched(before, snapshot())


def test_checkpoint_of_another_architecture(tmp_path, checkpointed):
    model, optimizer, _, snapshot = checkpointed
    other = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    path = tmp_path / "other.safetensors"
    save_checkpoint(path, other, gf.optim.SGD(other.parameters(), lr=0.1, momentum=0.9))
    before = snapshot()
    check(lambda: load_checkpoint(path, model, optimizer), StateDictError, RuntimeError, str(path),
          "'0.weight': shape (5, 3)")
    _assert_untouched(before, snapshot())


def test_checkpoint_whose_optimizer_state_does_not_fit_restores_the_model(tmp_path,
                                                                          checkpointed):
    # the model part loads first; the optimizer part then fails and the model is put back
    model, optimizer, _, snapshot = checkpointed
    twin, adam = _trained_optimizer(gf.optim.Adam)
    with gf.no_grad():
        for p in twin.parameters():
            p.fill_(5.0)
    path = tmp_path / "adam.safetensors"
    save_checkpoint(path, twin, adam)
    before = snapshot()
    check(lambda: load_checkpoint(path, model, optimizer), StateDictError, RuntimeError, str(path),
          "SGD")
    _assert_untouched(before, snapshot())


# -- the command line (in-process: gradflow.cli.main) ----------------------------------------------

USAGE_ERRORS = [
    pytest.param(["train", "--bogus"], "unrecognized arguments: --bogus", id="unknown-option"),
    pytest.param(["train", "--epochs", "-1"], "--epochs: must be a positive integer, got -1",
                 id="negative-epochs"),
    pytest.param(["train", "--epochs", "0"], "--epochs: must be a positive integer",
                 id="zero-epochs"),
    pytest.param(["train", "--epochs", "ten"], "--epochs: must be a positive integer, got 'ten'",
                 id="word-epochs"),
    pytest.param(["train", "--lr", "nan"], "--lr: must be a positive finite number, got nan",
                 id="nan-lr"),
    pytest.param(["train", "--lr", "-1"], "--lr: must be a positive finite number, got -1",
                 id="negative-lr"),
    pytest.param(["train", "--lr", "inf"], "--lr: must be a positive finite number",
                 id="infinite-lr"),
    pytest.param(["train", "--lr", "fast"], "--lr: must be a positive finite number, got 'fast'",
                 id="word-lr"),
    pytest.param(["train", "--batch-size", "0"], "--batch-size: must be a positive integer",
                 id="zero-batch-size"),
    pytest.param(["train", "--data-dir"], "--data-dir: expected one argument",
                 id="data-dir-without-value"),
    pytest.param(["train", "--dataset", "cifar"], "invalid choice: 'cifar'", id="unknown-dataset"),
    pytest.param(["fly"], "invalid choice: 'fly'", id="unknown-command"),
]


@pytest.mark.parametrize("argv, phrase", USAGE_ERRORS)
def test_cli_usage_errors_exit_2_with_a_message(argv, phrase, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert phrase in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and "--help'" in captured.err


def test_cli_missing_data_dir(tmp_path, capsys):
    missing = tmp_path / "no-such-folder"
    assert main(["train", "--dataset", "fashion-mnist", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--data-dir {missing} is not a directory" in err


def test_cli_data_dir_without_the_data_files(tmp_path, capsys):
    code = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path),
                 "--device", "cpu", "--epochs", "1", "--no-progress", "--out",
                 str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "DatasetNotFoundError" in err and str(tmp_path) in err


def test_cli_unknown_device(tmp_path, capsys):
    assert main(["train", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "BackendUnavailableError" in capsys.readouterr().err


def test_cli_has_detect_anomaly():
    assert build_parser().parse_args(["train", "--detect-anomaly"]).detect_anomaly is True
    assert build_parser().parse_args(["train"]).detect_anomaly is False
    result = subprocess.run([sys.executable, "-m", "gradflow", "train", "--detect-anomaly",
                             "--help"], check=False, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0 and "--detect-anomaly" in result.stdout


# -- anomaly mode: a NaN names the op, the shapes and the user's line ------------------------------


def test_anomaly_names_the_op_shapes_and_line_when_the_loss_becomes_nan():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    x = gf.randn(5, 3)
    with gf.detect_anomaly(), np.errstate(all="ignore"):
        out = model(x)
        exc = check(lambda: gf.log(out - 100.0).mean(), NonFiniteError, FloatingPointError,
                    "Log", "(5, 1)", __file__, "gf.log(out - 100.0)")
    assert "NaN or Inf" in str(exc)


def test_anomaly_during_training_that_diverges_names_an_op_and_the_line():
    gf.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = gf.optim.SGD(model.parameters(), lr=1e6)
    x, y = gf.randn(16, 3), gf.randn(16, 1) * 1e3
    with gf.detect_anomaly(), np.errstate(all="ignore"), pytest.raises(NonFiniteError) as info:
        for _ in range(50):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)  # the line anomaly mode must point at
            loss.backward()
            optimizer.step()
    message = str(info.value)
    assert isinstance(info.value, FloatingPointError)
    assert message.startswith("anomaly: ") and "NaN or Inf" in message
    assert "shape" in message and __file__ in message
    assert "loss = F.mse_loss(model(x), y)" in message or "loss.backward()" in message


def test_anomaly_in_backward_names_the_backward_op():
    x = gf.tensor([0.0, 1.0], requires_grad=True)
    with gf.detect_anomaly(), np.errstate(all="ignore"):
        y = gf.sqrt(x).sum()
        check(y.backward, NonFiniteError, FloatingPointError, "backward of Sqrt", "(2,)",
              "y = gf.sqrt(x).sum()")


# -- issue 12: bad input that leaked raw NumPy/Python errors ---------------------------------------
# Each row also names the state that must not change: the tensor or container it wrote into
# (and, for every row, gradflow's random generator).

NAN, INF = float("nan"), float("inf")
INTS = gf.tensor([1, 2])
BYTES = gf.tensor([1, 2], dtype=gf.uint8)
THREE = gf.ones(3)
EMPTY = gf.zeros(0)
LINEAR = nn.Linear(2, 2)
SEQUENTIAL = nn.Sequential(LINEAR)
HEADS = nn.ModuleDict({"a": LINEAR})
EMBEDDING = nn.Embedding(3, 2)


def leak(call, error, builtin, *phrases, id, state=lambda: None):
    return pytest.param(call, error, builtin, phrases, state, id=id)


def _tensor_values(*tensors):
    return lambda: [t.numpy().copy() for t in tensors]


def _keys(container):
    return lambda: list(container._modules.items())


RAW_LEAKS = [
    # reductions and shape ops
    leak(lambda: EMPTY.max(), ShapeError, ValueError, "max", "(0,)", "no elements",
         id="max-of-empty", state=_tensor_values(EMPTY)),
    leak(lambda: EMPTY.amax(0), ShapeError, ValueError, "max", "(0,)", "dim 0",
         id="amax-of-empty"),
    leak(lambda: EMPTY.argmax(), ShapeError, ValueError, "argmax", "(0,)", id="argmax-of-empty"),
    leak(lambda: gf.zeros(3, 0).min(1), ShapeError, ValueError, "min", "(3, 0)", "dim 1",
         id="min-along-empty-dim"),
    leak(lambda: THREE.sum(dim=(0, 0)), ShapeError, ValueError, "sum", "(0, 0)", "twice",
         id="sum-repeated-dim", state=_tensor_values(THREE)),
    leak(lambda: gf.ones(6).reshape(-2, -3), ShapeError, ValueError, "reshape", "(-2, -3)",
         "at most one -1", id="reshape-negative-sizes"),
    leak(lambda: gf.ones(6).reshape(2.0, 3), ShapeError, ValueError, "reshape", "2.0", "float",
         id="reshape-float-size"),
    leak(lambda: gf.ones(4).chunk(0), ConfigError, ValueError, "chunk", "0", id="chunk-zero"),
    leak(lambda: THREE[::0], IndexingError, IndexError, "step 0", "(3,)", id="slice-step-zero"),
    leak(lambda: gf.cat([gf.tensor(1.0), gf.tensor(2.0)]), ShapeError, ValueError, "cat", "0-d",
         "position 0", "stack", id="cat-of-0d"),
    leak(lambda: gf.ones(2, 3).size(5), DimensionError, IndexError, "size", "dim 5",
         "2 dimensions", id="size-dim-out-of-range"),
    leak(lambda: gf.tensor(1.0).size(0), DimensionError, ValueError, "size", "0-d",
         id="size-of-0d"),
    leak(lambda: gf.ones(2).to("float64"), BackendUnavailableError, RuntimeError,
         "'float64' is a dtype, not a device", "gf.float64", id="to-dtype-name"),
    # setitem: nothing written
    leak(lambda: THREE.__setitem__(3, 1.0), IndexingError, IndexError, "setitem", "index 3",
         "size 3", id="setitem-out-of-range", state=_tensor_values(THREE)),
    leak(lambda: THREE.__setitem__(gf.tensor([True, False]), 5.0), IndexingError, IndexError,
         "setitem", "mask of shape (2,)", "(3,)", id="setitem-mask-shape",
         state=_tensor_values(THREE)),
    leak(lambda: INTS.__setitem__(0, NAN), OutOfRangeError, ValueError, "setitem", "nan",
         "int64", id="setitem-nan-into-int", state=_tensor_values(INTS)),
    leak(lambda: THREE.__setitem__(slice(None, None, 0), 5.0), IndexingError, IndexError,
         "step 0", id="setitem-step-zero", state=_tensor_values(THREE)),
    # arithmetic and norms
    leak(lambda: BYTES + 300, OutOfRangeError, OverflowError, "add", "300", "uint8", "0..255",
         id="uint8-plus-300", state=_tensor_values(BYTES)),
    leak(lambda: INTS * 2 ** 70, OutOfRangeError, OverflowError, "mul", "int64",
         id="int64-times-2**70", state=_tensor_values(INTS)),
    leak(lambda: THREE.norm(p="two"), ConfigError, ValueError, "norm", "'two'", id="norm-p-str"),
    # creation functions
    leak(lambda: gf.zeros(2 ** 40, 2 ** 40), AllocationError, MemoryError, "full",
         "(1099511627776, 1099511627776)", "float32", "bytes", id="zeros-too-large"),
    leak(lambda: gf.arange(0, NAN), ConfigError, ValueError, "arange", "end", "nan",
         id="arange-nan"),
    leak(lambda: gf.arange(0, INF), ConfigError, ValueError, "arange", "inf", id="arange-inf"),
    leak(lambda: gf.linspace(0, 1, -1), ConfigError, ValueError, "linspace", "steps", "-1",
         id="linspace-negative-steps"),
    leak(lambda: gf.linspace(0, 1, 2.5), ConfigError, ValueError, "linspace", "2.5",
         id="linspace-float-steps"),
    leak(lambda: gf.eye(-1), ConfigError, ValueError, "eye", "(-1,)", id="eye-negative"),
    leak(lambda: gf.eye(2, -3), ConfigError, ValueError, "eye", "(2, -3)", id="eye-negative-m"),
    leak(lambda: gf.full((2,), "a"), DTypeError, TypeError, "full", "'a'", "str",
         id="full-string"),
    leak(lambda: gf.randint(0.5, 3), ConfigError, ValueError, "randint", "low", "0.5",
         id="randint-float-low"),
    leak(lambda: gf.randint(3, 3, (2,)), ConfigError, ValueError, "randint", "[3, 3)", "empty",
         id="randint-empty-range"),
    leak(lambda: gf.randn(3, generator=3), ArgumentTypeError, TypeError, "randn", "generator",
         "int", id="randn-int-generator"),
    leak(lambda: gf.rand(3, generator="seed"), ArgumentTypeError, TypeError, "rand", "'seed'",
         id="rand-str-generator"),
    leak(lambda: gf.randperm(-2), ConfigError, ValueError, "randperm", "(-2,)",
         id="randperm-negative"),
    leak(lambda: gf.tensor(2 ** 70), OutOfRangeError, OverflowError, "tensor()",
         str(2 ** 70), "overflows", id="tensor-2**70"),
    leak(lambda: gf.tensor([[1], [2 ** 70]]), OutOfRangeError, OverflowError, "overflows",
         id="tensor-nested-2**70"),
    # losses
    leak(lambda: F.cross_entropy(LOGITS, gf.tensor([True, False, True, False])), DTypeError,
         TypeError, "cross_entropy", "bool", id="cross-entropy-bool-labels"),
    leak(lambda: F.cross_entropy(LOGITS, gf.tensor([0.0, 1.0, 2.0, 0.0])), DTypeError,
         TypeError, "cross_entropy", "float32", "integers", id="cross-entropy-float-labels"),
    # layers and containers: nothing added, nothing changed
    leak(lambda: nn.Dropout("0.5"), ArgumentTypeError, TypeError, "Dropout", "'0.5'", "str",
         id="dropout-string-p"),
    leak(lambda: F.dropout(THREE, "0.5"), ArgumentTypeError, TypeError, "dropout", "'0.5'",
         id="functional-dropout-string-p", state=_tensor_values(THREE)),
    leak(lambda: nn.Dropout(1.5), ConfigError, ValueError, "Dropout", "1.5",
         id="dropout-p-out-of-range"),
    leak(lambda: nn.Conv2d(2, 2, 3, groups=0), ConfigError, ValueError, "Conv2d", "groups",
         "positive", "0", id="conv2d-groups-zero"),
    leak(lambda: nn.Sequential(LINEAR, 3), ArgumentTypeError, TypeError, "Sequential", "'1'",
         "int", "not a Module", id="sequential-non-module"),
    leak(lambda: SEQUENTIAL.append(print), ArgumentTypeError, TypeError, "Sequential",
         "not a Module", id="sequential-append-function", state=_keys(SEQUENTIAL)),
    leak(lambda: SEQUENTIAL[3], IndexingError, IndexError, "Sequential", "index 3",
         "1 modules", id="sequential-index-out-of-range", state=_keys(SEQUENTIAL)),
    leak(lambda: SEQUENTIAL.__setitem__(-2, LINEAR), IndexingError, IndexError, "index -2",
         id="sequential-setitem-out-of-range", state=_keys(SEQUENTIAL)),
    leak(lambda: SEQUENTIAL["0"], ArgumentTypeError, TypeError, "Sequential", "'0'",
         id="sequential-string-index", state=_keys(SEQUENTIAL)),
    leak(lambda: nn.ModuleDict({1: LINEAR}), ArgumentTypeError, TypeError, "ModuleDict",
         "keys must be strings", "1", "int", id="moduledict-int-key"),
    leak(lambda: HEADS.update({"b": LINEAR, 2: LINEAR}), ArgumentTypeError, TypeError,
         "ModuleDict", "2", id="moduledict-update-changes-nothing", state=_keys(HEADS)),
    leak(lambda: nn.ModuleList([LINEAR, "relu"]), ArgumentTypeError, TypeError, "ModuleList",
         "str", id="modulelist-string"),
]


def _same(after, before) -> None:
    if before is None:
        assert after is None
        return
    assert len(after) == len(before)
    for a, b in zip(after, before):
        if isinstance(b, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


@pytest.mark.parametrize("call, error, builtin, phrases, state", RAW_LEAKS)
def test_bad_input_that_leaked_raw_errors_is_typed_and_changes_nothing(call, error, builtin,
                                                                         phrases, state):
    generator = gf.get_rng_state()
    before = state()
    with np.errstate(all="raise"):  # a NumPy warning on the way to the error fails too
        check(call, error, builtin, *phrases)
    _same(state(), before)
    assert gf.get_rng_state() == generator


# -- issue 12 item 10: silent wrong results that now raise (or give PyTorch's value) ---------------

ITEM10 = [
    leak(lambda: EMBEDDING(gf.tensor([-1])), IndexingError, IndexError, "embedding",
         "index -1", "size 3", id="embedding-negative-index"),
    leak(lambda: F.embedding(gf.tensor([[0, -3]]), gf.ones(3, 2)), IndexingError, IndexError,
         "index -3", id="functional-embedding-negative-index"),
    leak(lambda: gf.ones(2, 3, 4).flatten(2, 1), ShapeError, ValueError, "flatten",
         "start_dim 2", "end_dim 1", "(2, 3, 4)", id="flatten-start-after-end"),
    leak(lambda: gf.tensor(np.array([2 ** 63], np.uint64)), OutOfRangeError, OverflowError,
         "tensor()", str(2 ** 63), "int64", id="uint64-beyond-int64"),
    leak(lambda: gf.tensor([300, -1], dtype=gf.uint8), OutOfRangeError, OverflowError,
         "uint8", "0..255", id="uint8-from-300-and-minus-1"),
    leak(lambda: gf.tensor([NAN], dtype=gf.int64), OutOfRangeError, ValueError, "nan", "int64",
         id="nan-into-int64"),
    leak(lambda: gf.tensor(np.array([1.0, INF]), dtype=gf.int32), OutOfRangeError, ValueError,
         "inf", "int32", id="inf-array-into-int32"),
    leak(lambda: gf.full((2,), INF, dtype=gf.int64), OutOfRangeError, OverflowError, "full",
         "inf", "int64", id="full-inf-int64"),
    leak(lambda: gf.full((2,), 256, dtype=gf.uint8), OutOfRangeError, OverflowError, "full",
         "256", "uint8", id="full-256-uint8"),
    leak(lambda: gf.arange(0, 2.5, 0.5, dtype=gf.int64), ConfigError, ValueError, "arange",
         "0.5", "int64", id="arange-fractional-step-int64"),
    leak(lambda: gf.full((2,), None), DTypeError, TypeError, "full", "None",
         id="full-none"),
]


@pytest.mark.parametrize("call, error, builtin, phrases, state", ITEM10)
def test_item10_silent_wrong_results_now_raise(call, error, builtin, phrases, state):
    generator = gf.get_rng_state()
    check(call, error, builtin, *phrases)
    assert gf.get_rng_state() == generator


def test_item10_mean_of_nothing_is_nan_as_in_pytorch(device):
    assert np.isnan(gf.zeros(0, device=device).mean().item())
    np.testing.assert_array_equal(gf.zeros(2, 0, device=device).mean(1).numpy(), [NAN, NAN])
    assert gf.zeros(0, 2, device=device).sum().item() == 0.0  # sum of nothing stays 0


def test_item10_valid_inputs_near_the_limits_still_work():
    assert gf.tensor([255, 0], dtype=gf.uint8).tolist() == [255, 0]
    assert gf.tensor(np.array([2 ** 63 - 1], np.uint64)).tolist() == [2 ** 63 - 1]
    assert gf.tensor(-2 ** 63).item() == -2 ** 63
    assert gf.tensor([2.7, -1.5], dtype=gf.int64).tolist() == [2, -1]  # truncates, as torch
    assert gf.arange(0, 2.5, 1, dtype=gf.int64).tolist() == [0, 1, 2]
    assert gf.full((2,), 255, dtype=gf.uint8).tolist() == [255, 255]
    assert (BYTES + 253).tolist() == [254, 255]
    assert gf.linspace(0, 1, 0).shape == (0,) and gf.eye(0).shape == (0, 0)
    assert nn.Embedding(3, 2)(gf.tensor([0, 2])).shape == (2, 2)


def test_norm_of_order_zero_and_minus_inf_match_pytorch():
    x = gf.tensor([[0.0, -2.0, 3.0], [0.0, 0.0, 1.0]])
    assert x.norm(p=0).item() == 3.0
    assert x.norm(p=-INF).item() == 0.0
    np.testing.assert_array_equal(x.norm(p=0, dim=1).numpy(), [2.0, 1.0])
    torch = pytest.importorskip("torch")
    reference = torch.tensor([[0.0, -2.0, 3.0], [0.0, 0.0, 1.0]])
    assert x.norm(p=0).item() == torch.norm(reference, p=0).item()


# -- issue 12: `gradflow train --out` and `--detect-anomaly` ---------------------------------------


@pytest.mark.parametrize("where", ["existing-file", "under-a-file"])
def test_cli_train_out_that_cannot_be_a_directory(tmp_path, capsys, where):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    out = existing if where == "existing-file" else existing / "x"
    assert main(["train", "--out", str(out), "--device", "cpu", "--epochs", "1"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gradflow train: --out {out}: ")
    assert "Traceback" not in captured.err and captured.out == ""
    assert existing.read_text() == "keep me"


def test_cli_train_out_under_etc_passwd_is_one_line_exit_2():
    result = subprocess.run([sys.executable, "-m", "gradflow", "train", "--out", "/etc/passwd/x"],
                            check=False, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gradflow train: --out /etc/passwd/x: cannot create the directory: Not a directory"]


def test_cli_train_detect_anomaly_names_the_model_line_not_the_launcher(tmp_path, capsys):
    with np.errstate(all="ignore"):  # the overflow anomaly mode is there to catch
        code = main(["train", "--model", "mlp", "--epochs", "1", "--lr", "1e12", "--optimizer",
                     "sgd", "--detect-anomaly", "--no-progress", "--device", "cpu", "--out",
                     str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "NonFiniteError" in err and "bin/gradflow" not in err and "runpy" not in err
    assert os.path.join("train", "loop.py") in err and "model(images)" in err
    assert "(in layer Linear '" in err


def test_anomaly_names_the_layer_inside_a_sequential():
    model = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))))
    with gf.detect_anomaly(), np.errstate(all="ignore"):
        with gf.no_grad():
            model.body[1].weight.fill_(float("inf"))
        exc = check(lambda: model(gf.ones(1, 2)), NonFiniteError, FloatingPointError,
                    "(in layer Linear 'body.1')", __file__)
    assert "model(gf.ones(1, 2))" in str(exc)
