"""The numba fast path (gradflow/backends/fused.py) against the NumPy kernels it replaces.

The NumPy backend with `fused` off is the reference: pooling must match it (and the generic
kernels) bit for bit, the optimizer steps within the tolerances of
tests/optim/test_optimizers.py, on NCHW and channels-last memory, NaN and infinity included.
"""

import array_api_compat.numpy as numpy_namespace
import numpy as np
import pytest

from gradflow.backends import channels_last, fused
from gradflow.backends.generic import Backend
from gradflow.backends.numpy import NumpyBackend

GENERIC = Backend("generic-numpy", numpy_namespace, "cpu")
RNG = np.random.default_rng(7)
# NOTE: NaN and infinity in optimizer steps make NumPy warn (inf - inf); the values are checked
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
TILING = ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1))  # kernel, stride, padding, dilation


def _backend(use_fused: bool) -> NumpyBackend:
    backend = NumpyBackend()
    backend.fused = use_fused
    return backend


@pytest.fixture(scope="module")
def fast():
    pytest.importorskip("numba")
    return _backend(True)


@pytest.fixture(scope="module")
def plain():
    return _backend(False)


def _input(shape, layout, bad, dtype=np.float32):
    x = RNG.standard_normal(shape).astype(dtype)
    x[0, 0, 0, :2] = x[0, 0, 1, 0] = 5.0  # a tie: the first maximum wins
    if bad is not None:
        x[0, -1, 1, 1] = bad
        x[-1, 0, -1, -1] = -bad
    if layout == "channels_last":
        x = channels_last.nchw(np.ascontiguousarray(channels_last.nhwc(x)))
    return x


def _same_layout(a, b):
    assert channels_last.is_channels_last(a) == channels_last.is_channels_last(b)
    assert a.flags.c_contiguous == b.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf], ids=["finite", "nan", "inf"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("kernel", [(2, 2), (3, 2)])
def test_max_pool_fused_equals_numpy_and_generic(fast, plain, kernel, layout, bad, dtype):
    x = _input((2, 5, 6, 8), layout, bad, dtype)
    geometry = (kernel, kernel, (0, 0, 0, 0), (1, 1))
    assert fused.max_pool2d_forward(x, *geometry, layout == "channels_last") is not None
    values, index = fast.max_pool2d_forward(x, *geometry)
    for reference in (plain, GENERIC):
        expected_values, expected_index = reference.max_pool2d_forward(x, *geometry)
        np.testing.assert_array_equal(values, expected_values)
        np.testing.assert_array_equal(index, expected_index)
    _same_layout(values, plain.max_pool2d_forward(x, *geometry)[0])
    np.testing.assert_array_equal(fast.max_pool2d_values(x, *geometry), values)

    grad = _input(values.shape, layout, bad, dtype)
    grad_x = fast.max_pool2d_backward(grad, index, x.shape, *geometry)
    np.testing.assert_array_equal(
        grad_x, GENERIC.max_pool2d_backward(grad, index, x.shape, *geometry))
    if bad is None:  # the NumPy override falls back to the generic kernel otherwise
        expected = plain.max_pool2d_backward(grad, index, x.shape, *geometry)
        np.testing.assert_array_equal(grad_x, expected)
        _same_layout(grad_x, expected)


def test_unsupported_arrays_fall_back(fast):
    x = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
    overlapping = ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1))
    assert fused.max_pool2d_forward(x, *overlapping, False) is None
    assert fused.max_pool2d_forward(x.astype(np.int32), *TILING, False) is None
    strided = x[:, :, :, ::-1]
    assert fused.max_pool2d_forward(strided, *TILING, False) is None
    np.testing.assert_array_equal(fast.max_pool2d_forward(strided, *TILING)[0],
                                  GENERIC.max_pool2d_forward(strided, *TILING)[0])
    assert fused.sgd_step(x, x.T, None, SGD_CASES[0]) is None


SGD_CASES = [
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": False, "weight_decay": 0.01,
     "maximize": True},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 0.0,
     "maximize": False},
    {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.1,
     "maximize": False},
]
ADAM_CASES = [
    {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": True,
     "maximize": True, "decoupled_weight_decay": False},
    {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": False,
     "maximize": False, "decoupled_weight_decay": True},
    {"lr": 0.001, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.0, "amsgrad": False,
     "maximize": False},
]


def _assert_steps_close(fast_arrays, reference_arrays, dtype):
    rtol = 1e-6 if dtype == np.float32 else 1e-14  # as tests/optim/test_optimizers.py
    for a, b in zip(fast_arrays, reference_arrays):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


def _step_inputs(dtype, bad, states):
    param, grad = RNG.standard_normal((2, 33, 7)).astype(dtype)
    if bad is not None:
        grad[3, 4] = bad
    return param, grad, [RNG.uniform(0.5, 1.5, (33, 7)).astype(dtype) for _ in range(states)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf], ids=["finite", "nan", "inf"])
@pytest.mark.parametrize("options", SGD_CASES)
def test_sgd_step_fused_equals_numpy_and_generic(fast, plain, options, bad, dtype):
    param, grad, (buffer,) = _step_inputs(dtype, bad, 1)
    if options["momentum"] == 0:
        buffer = None
    results = []
    for step in (fast.sgd_step, plain.sgd_step, lambda *a: Backend.sgd_step(GENERIC, *a)):
        p, b = param.copy(), None if buffer is None else buffer.copy()
        for first in (True, False):  # the first momentum step starts the buffer
            out = step(p, grad, None if first else b, options)
            assert out[0] is p
            b = out[1]
        results.append(out)
    _assert_steps_close(results[0], results[1], dtype)
    _assert_steps_close(results[0], results[2], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf], ids=["finite", "nan", "inf"])
@pytest.mark.parametrize("options", ADAM_CASES)
def test_adam_step_fused_equals_numpy_and_generic(fast, plain, options, bad, dtype):
    param, grad, (avg, avg_sq, top) = _step_inputs(dtype, bad, 3)
    if not options["amsgrad"]:
        top = None
    results = []
    for step in (fast.adam_step, plain.adam_step, lambda *a: Backend.adam_step(GENERIC, *a)):
        arrays = [param.copy(), grad, avg.copy(), avg_sq.copy(), None if top is None
                  else top.copy()]
        for count in (1, 2, 3):
            out = step(*arrays, count, options)
            assert out[0] is arrays[0]
        results.append(out)
    _assert_steps_close(results[0], results[1], dtype)
    _assert_steps_close(results[0], results[2], dtype)


def test_without_numba_the_numpy_kernels_run(monkeypatch):
    real_find_spec = fused.importlib.util.find_spec
    monkeypatch.setattr(fused.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real_find_spec(name, *a))
    monkeypatch.setattr(fused, "kernels", _no_numba)
    backend = NumpyBackend()
    assert backend.fused is False
    x = _input((2, 3, 4, 4), "channels_last", np.nan)
    values, index = backend.max_pool2d_forward(x, *TILING)
    np.testing.assert_array_equal(values, GENERIC.max_pool2d_forward(x, *TILING)[0])
    grad = np.ones_like(values)
    backend.max_pool2d_backward(grad, index, x.shape, *TILING)
    backend.sgd_step(np.ones(3, np.float32), np.ones(3, np.float32), None, SGD_CASES[2])


def test_environment_switch_turns_the_fast_path_off(monkeypatch):
    monkeypatch.setenv("GRADFLOW_NUMBA", "0")
    assert not fused.wanted() and NumpyBackend().fused is False


def test_compiled_kernels_are_cached_under_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fused.cache_dir() == str(tmp_path / "gradflow" / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/elsewhere")
    assert fused.cache_dir() == "/elsewhere"


def _no_numba():
    raise AssertionError("numba kernels used although numba is unavailable")
