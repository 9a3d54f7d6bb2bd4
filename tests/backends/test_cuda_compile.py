"""Every CUDA kernel of the CuPy backend compiles with NVRTC for sm_80 and sm_90, on a machine
without a GPU or a driver, and is launched with the arguments its source declares.

Needs libnvrtc (`pip install nvidia-cuda-nvrtc-cu12`, the `test-cuda-compile` extra); without
it these tests skip, unless GRADFLOW_REQUIRE_NVRTC=1 (what `make test-cuda-compile` sets)
makes that a failure.
"""

from __future__ import annotations

import os
import re
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


def _parameters(source: str) -> list[str]:
    declared = re.search(r"__global__ void \w+\((.*?)\)", source, re.DOTALL).group(1)
    return [p.strip().rsplit(" ", 1)[0] for p in declared.split(",")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_launch_arguments_match_the_kernel_parameters(monkeypatch, dtype):
    launches = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(launches))
    cupy_backend._raw_kernel.cache_clear()
    backend = object.__new__(cupy_backend.CupyBackend)
    backend._cupy, backend.device = sys.modules["cupy"], _NullContext()

    def ones():
        return _FakeArray(np.ones(5, dtype))

    backend.sgd_step(ones(), ones(), None, 0.1, 0.0, 0.0, False, 0.0, False)
    backend.sgd_step(ones(), ones(), None, 0.1, 0.9, 0.0, True, 0.01, False)
    for amsgrad in (False, True):
        backend.adam_step(ones(), ones(), ones(), ones(), ones() if amsgrad else None, 3, 1e-3,
                          0.9, 0.999, 1e-8, 0.01, amsgrad, False, True)
    cupy_backend._raw_kernel.cache_clear()
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


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
