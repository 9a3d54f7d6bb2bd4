"""Every CUDA kernel of the CuPy backend compiles with NVRTC for sm_80 and sm_90, on a machine
without a GPU or a driver, and is launched with the arguments its source declares.

Needs libnvrtc (`pip install nvidia-cuda-nvrtc-cu12`, the `test-cuda-compile` extra); without
it these tests skip, unless GRADFLOW_REQUIRE_NVRTC=1 (what `make test-cuda-compile` sets)
makes that a failure.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from gradflow.backends import cupy as cupy_backend
from gradflow.backends import nvrtc

SOURCES = cupy_backend.cuda_sources()


@pytest.fixture(scope="module")
def compiler():
    try:
        return nvrtc.load()
    except nvrtc.NvrtcUnavailable as exc:
        if os.environ.get("GRADFLOW_REQUIRE_NVRTC") == "1":
            pytest.fail(f"GRADFLOW_REQUIRE_NVRTC=1: {exc}")
        pytest.skip(str(exc))


def test_every_kernel_is_listed():
    # 2 optimizers x with/without momentum (amsgrad) x float32/float64
    assert sorted(SOURCES) == sorted(
        f"gradflow_{kind}_{char}" for kind in ("sgd", "sgd_momentum", "adam", "amsgrad")
        for char in "fd")


@pytest.mark.parametrize("arch", nvrtc.ARCHITECTURES)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_kernel_compiles(compiler, name, arch):
    cubin = nvrtc.compile_cubin(SOURCES[name], name, arch)
    assert cubin[:4] == b"\x7fELF" and name.encode() in cubin
    print(f"compiled {name} for {arch}: {len(cubin)} bytes")


def test_a_broken_kernel_fails_with_the_log(compiler):
    source = SOURCES["gradflow_sgd_f"].replace("param[i] = param[i] - lr * d;", "param[i] = q;")
    with pytest.raises(nvrtc.CompileError, match="identifier \"q\" is undefined"):
        nvrtc.compile_cubin(source, "gradflow_sgd_f", "sm_80")


# -- launches: the arguments each step passes fit the kernel's parameters ----------------------

class _FakeArray:
    """Just enough of cupy.ndarray for the backend's launch code."""

    def __init__(self, array: np.ndarray):
        self.array = array
        self.dtype, self.size, self.flags = array.dtype, array.size, array.flags


def _fake_cupy(launches: list):
    fake = types.ModuleType("cupy")
    fake.ndarray = _FakeArray
    fake.bool_, fake.int64 = np.bool_, np.int64
    fake.ascontiguousarray = lambda a, dtype=None: _FakeArray(
        np.ascontiguousarray(a.array, dtype=dtype))
    fake.empty_like = lambda a: _FakeArray(np.empty_like(a.array))

    class RawKernel:
        def __init__(self, source, name):
            self.source, self.name = source, name

        def __call__(self, grid, block, args):
            launches.append((self.name, self.source, args))

    fake.RawKernel = RawKernel
    return fake


def _fake_backend(monkeypatch, launches: list):
    """A CupyBackend on the fake CuPy: its kernel launches are recorded, not run."""
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(launches))
    monkeypatch.setattr(cupy_backend, "_raw_kernel", cupy_backend._raw_kernel.__wrapped__)
    backend = object.__new__(cupy_backend.CupyBackend)
    backend._cupy, backend.device = sys.modules["cupy"], _NullContext()
    return backend


def _parameters(source: str) -> list[str]:
    declared = re.search(r"__global__ void \w+\((.*?)\)", source, re.DOTALL).group(1)
    return [p.strip().rsplit(" ", 1)[0] for p in declared.split(",")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_launch_arguments_match_the_kernel_parameters(monkeypatch, dtype):
    launches = []
    backend = _fake_backend(monkeypatch, launches)

    def ones():
        return _FakeArray(np.ones(5, dtype))

    sgd = {"lr": 0.1, "dampening": 0.0, "weight_decay": 0.0, "maximize": False}
    backend.sgd_step(ones(), ones(), None, {**sgd, "momentum": 0.0, "nesterov": False})
    backend.sgd_step(ones(), ones(), None, {**sgd, "momentum": 0.9, "nesterov": True})
    for amsgrad in (False, True):
        backend.adam_step(ones(), ones(), ones(), ones(), ones() if amsgrad else None, 3,
                          {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01,
                           "amsgrad": amsgrad, "maximize": False,
                           "decoupled_weight_decay": True})
    char = np.dtype(dtype).char
    assert [name for name, _, _ in launches] == [
        f"gradflow_{k}_{char}" for k in ("sgd", "sgd_momentum", "adam", "amsgrad")]
    scalar_of = {"T": np.dtype(dtype).type, "bool": np.bool_, "long long": np.int64}
    for name, source, args in launches:
        parameters = _parameters(source)
        assert len(args) == len(parameters), name
        for declared, arg in zip(parameters, args):
            if declared.endswith("*"):
                assert isinstance(arg, _FakeArray) and arg.dtype == dtype, (name, declared)
            else:
                assert type(arg) is scalar_of[declared], (name, declared, type(arg))


# -- the kernels' arithmetic, run on the CPU: the same sources compiled by g++ ----------------

# NOTE: one thread (block 0 of 1, thread 0 of 1): the grid-stride loop then visits every
# element in order, so the CUDA body runs as plain C++.
_CPU_PRELUDE = """#include <cmath>
using std::sqrt;
#define __global__
struct Index { long long x; };
static const Index blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
"""
_CTYPES = {np.float32: ctypes.c_float, np.float64: ctypes.c_double, np.bool_: ctypes.c_bool,
           np.int64: ctypes.c_longlong}


def _cpu_kernel(source: str, name: str, workdir):
    path = workdir / f"{name}.so"
    if not path.exists():
        subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-x", "c++", "-", "-o", str(path)],
                       input=(_CPU_PRELUDE + source).encode(), check=True, capture_output=True)
    return getattr(ctypes.CDLL(str(path)), name)


def _run_on_cpu(launches, workdir):
    for name, source, args in launches:
        kernel = _cpu_kernel(source, name, workdir)
        kernel(*[a.array.ctypes.data_as(ctypes.c_void_p) if isinstance(a, _FakeArray)
                 else _CTYPES[type(a)](a) for a in args])


STEPS = [
    ("sgd_step", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
                  "weight_decay": 0.1, "maximize": True}, [None]),
    ("sgd_step", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": False,
                  "weight_decay": 0.01, "maximize": False}, ["buffer"]),
    ("sgd_step", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True,
                  "weight_decay": 0.0, "maximize": False}, [None]),  # first step: copies
    ("adam_step", {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1,
                   "amsgrad": True, "maximize": True, "decoupled_weight_decay": False},
     ["m", "v", "vmax"]),
    ("adam_step", {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1,
                   "amsgrad": False, "maximize": False, "decoupled_weight_decay": True},
     ["m", "v", None]),
]


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ to run the kernels on the CPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "options", "states"), STEPS,
                         ids=[f"{s[0]}-{i}" for i, s in enumerate(STEPS)])
def test_kernel_arithmetic_matches_the_generic_step(monkeypatch, tmp_path, name, options, states,
                                                   dtype):
    from gradflow.backends import get_backend
    from gradflow.backends.generic import Backend

    rng = np.random.default_rng(5)
    param, grad = rng.standard_normal((2, 40)).astype(dtype)
    state = [None if s is None else rng.uniform(0.5, 1.5, 40).astype(dtype) for s in states]
    launches = []
    backend = _fake_backend(monkeypatch, launches)
    wrap = _FakeArray
    step = (3,) if name == "adam_step" else ()
    fast = getattr(backend, name)(wrap(param.copy()), wrap(grad.copy()),
                                  *[None if s is None else wrap(s.copy()) for s in state],
                                  *step, options)
    assert launches
    _run_on_cpu(launches, tmp_path)
    generic = getattr(Backend, name)(get_backend("cpu"), param.copy(), grad.copy(),
                                     *[None if s is None else s.copy() for s in state], *step,
                                     options)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for ours, reference in zip(fast, generic):
        assert (ours is None) == (reference is None)
        if ours is not None:
            np.testing.assert_allclose(ours.array, reference, rtol=rtol, atol=rtol * 1e-2)


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
