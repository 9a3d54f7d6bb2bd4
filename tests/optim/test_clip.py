"""Gradient clipping: PyTorch parity, non-finite policies, names in errors, devices."""

import math

import numpy as np
import pytest

import gradflow as gf
from gradflow.errors import ConfigError, NonFiniteError
from gradflow.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)

DEVICES = ["cpu", "strict", "strict:device1"]
SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) * scale for s in SHAPES]


def _params(grads, device, dtype=None):
    params = []
    for g in grads:
        p = gf.tensor(np.zeros(g.shape), dtype=dtype, device=device, requires_grad=True)
        p.grad = gf.tensor(g, dtype=dtype, device=device)
        params.append(p)
    return params


def _torch_params(torch, grads, dtype=None):
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=dtype or torch.float64, requires_grad=True)
        p.grad = torch.tensor(g, dtype=dtype or torch.float64)
        params.append(p)
    return params


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(max_norm, norm_type, device_name):
    torch = pytest.importorskip("torch")
    grads = _grads()
    params = _params(grads, device_name)
    theirs = _torch_params(torch, grads)
    norm = clip_grad_norm_(params, max_norm, norm_type)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert norm.shape == () and norm.device == params[0].device
    np.testing.assert_allclose(norm.item(), torch_norm.item(), rtol=1e-12)
    for p, tp in zip(params, theirs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_float32_matches_pytorch_and_stays_float32():
    torch = pytest.importorskip("torch")
    grads = _grads(scale=3.0)
    params = _params(grads, "cpu", gf.float32)
    theirs = _torch_params(torch, grads, torch.float32)
    norm = clip_grad_norm_(params, 1.0)
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert norm.dtype is gf.float32
    np.testing.assert_allclose(norm.item(), torch_norm.item(), rtol=1e-6)
    for p, tp in zip(params, theirs):
        assert p.grad.dtype is gf.float32
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_half_precision_norm_does_not_overflow():
    p = gf.zeros(4, dtype=gf.float16, requires_grad=True)
    p.grad = gf.full((4,), 300.0, dtype=gf.float16)  # 300^2 overflows float16
    norm = clip_grad_norm_([p], 1.0)
    assert norm.item() == pytest.approx(600.0)
    assert p.grad.dtype is gf.float16
    np.testing.assert_allclose(p.grad.numpy().astype(float), 0.5, rtol=1e-3)


def _poisoned(device, value=math.nan):
    grads = _grads()
    grads[1][0] = value
    return _params(grads, device), grads


@pytest.mark.parametrize("device_name", DEVICES)
def test_raise_names_the_parameters_and_changes_nothing(device_name):
    params, grads = _poisoned(device_name)
    named = [("encoder.weight", params[0]), ("encoder.bias", params[1]),
             ("head.weight", params[2])]
    with pytest.raises(NonFiniteError, match="encoder.bias") as info:
        clip_grad_norm_(named, 1.0)
    assert "encoder.weight" not in str(info.value) and "head" not in str(info.value)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)
    with pytest.raises(NonFiniteError, match=r"parameter 1 \(shape \(3,\)\)"):
        clip_grad_norm_(params, 1.0)


def test_raise_with_module_named_parameters():
    from gradflow import nn

    model = nn.Linear(3, 2)
    model(gf.ones(1, 3)).sum().backward()
    model.bias.grad = gf.tensor([math.inf, 0.0])
    with pytest.raises(NonFiniteError, match="bias"):
        clip_grad_norm_(model.named_parameters(), 1.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_raise_on_overflow_of_finite_gradients():
    p = gf.zeros(2, requires_grad=True)
    p.grad = gf.tensor([3e38, 3e38])  # float32: finite, but the squares overflow
    with pytest.raises(NonFiniteError, match="overflow"):
        clip_grad_norm_([p], 1.0)


@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_skip_zeroes_every_gradient_and_returns_the_norm(bad, device_name):
    params, _ = _poisoned(device_name, bad)
    versions = [p.grad._version for p in params]
    norm = clip_grad_norm_(params, 1.0, nonfinite="skip")
    assert not math.isfinite(norm.item())
    for p, version in zip(params, versions):
        assert np.all(p.grad.numpy() == 0) and p.grad._version == version + 1


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
def test_zero_cleans_then_clips_by_the_cleaned_norm(device_name):
    torch = pytest.importorskip("torch")
    params, grads = _poisoned(device_name, -math.inf)
    grads[1][0] = 0.0
    theirs = _torch_params(torch, grads)
    norm = clip_grad_norm_(params, 0.5, nonfinite="zero")
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    np.testing.assert_allclose(norm.item(), torch_norm.item(), rtol=1e-12)
    for p, tp in zip(params, theirs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
def test_ignore_behaves_as_pytorch(device_name):
    torch = pytest.importorskip("torch")
    params, grads = _poisoned(device_name)
    theirs = _torch_params(torch, grads)
    norm = clip_grad_norm_(params, 1.0, nonfinite="ignore")
    torch_norm = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isnan(norm.item()) and math.isnan(torch_norm.item())
    for p, tp in zip(params, theirs):
        np.testing.assert_array_equal(np.isnan(p.grad.numpy()), np.isnan(tp.grad.numpy()))
    params = _params(_grads(), device_name)
    theirs = _torch_params(torch, _grads())
    clip_grad_norm_(params, 1.0, nonfinite="ignore")
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, tp in zip(params, theirs):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_params_without_grads_and_single_tensor():
    p, q = gf.ones(3, requires_grad=True), gf.ones(2, requires_grad=True, device="strict")
    assert clip_grad_norm_([p], 1.0).item() == 0.0
    assert clip_grad_norm_([q], 1.0).device == q.device
    p.grad = gf.tensor([3.0, 4.0, 0.0])
    norm = clip_grad_norm_(p, 10.0)
    assert norm.item() == pytest.approx(5.0) and p.grad.tolist() == [3.0, 4.0, 0.0]


def test_grads_on_two_devices_give_one_norm_on_the_first():
    p, q = gf.zeros(2, requires_grad=True), gf.zeros(1, requires_grad=True, device="strict:device1")
    p.grad, q.grad = gf.tensor([3.0, 0.0]), gf.tensor([4.0], device="strict:device1")
    norm = clip_grad_norm_([p, q], 1.0)
    assert norm.device == "cpu" and norm.item() == pytest.approx(5.0)
    np.testing.assert_allclose(q.grad.numpy(), [0.8], rtol=1e-6)
    clip_grad_norm_([p, q], 1.0, nonfinite="ignore")
    np.testing.assert_allclose(q.grad.numpy(), [0.8], rtol=1e-5)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_norm": math.nan}, "max_norm"), ({"max_norm": -1.0}, "max_norm"),
    ({"max_norm": 1.0, "norm_type": 0}, "norm_type"),
    ({"max_norm": 1.0, "nonfinite": "drop"}, "nonfinite"),
])
def test_bad_options(kwargs, match):
    p = gf.ones(2, requires_grad=True)
    with pytest.raises(ConfigError, match=match):
        clip_grad_norm_([p], **kwargs)


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
def test_clip_grad_value_matches_pytorch(device_name):
    torch = pytest.importorskip("torch")
    grads = _grads()
    params = _params(grads, device_name)
    theirs = _torch_params(torch, grads)
    clip_grad_value_(params, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, tp in zip(params, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    with pytest.raises(ConfigError, match="clip_value"):
        clip_grad_value_(params, -1.0)


def test_parameters_to_vector_round_trip():
    params = [gf.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True),
              gf.tensor([7.0, 8.0], requires_grad=True)]
    vector = parameters_to_vector(params)
    assert vector.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]
    vector_to_parameters(vector * 2, params)
    assert params[1].tolist() == [14.0, 16.0] and params[0]._version == 1
