"""Compile gradflow's CUDA kernels with NVRTC, without a GPU or a driver.

NVRTC (the `nvidia-cuda-nvrtc-cu12` wheel, or a CUDA toolkit's libnvrtc) turns CUDA C++
into machine code for a named architecture on any machine. This is how the CuPy backend's
RawKernel sources are known to compile for A100 (sm_80) and H100 (sm_90) before a GPU is
ever seen: `make test-cuda-compile`, or `python -m gradflow.backends.nvrtc`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
from pathlib import Path

ARCHITECTURES = ("sm_80", "sm_90")
INSTALL_HINT = "pip install nvidia-cuda-nvrtc-cu12"


class NvrtcUnavailable(RuntimeError):
    """No libnvrtc could be loaded."""


class CompileError(RuntimeError):
    """NVRTC rejected a kernel; the message holds its log."""


def library_candidates() -> list[str]:
    """Where libnvrtc may be: the pip wheel first, then the system's CUDA."""
    found = []
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc") if importlib.util.find_spec(
        "nvidia") else None
    for root in (spec.submodule_search_locations or []) if spec else []:
        found += sorted(str(p) for p in Path(root, "lib").glob("libnvrtc.so*")
                        if "builtins" not in p.name and ".alt." not in p.name)
    system = ctypes.util.find_library("nvrtc")
    if system:
        found.append(system)
    return found


@functools.cache
def load() -> ctypes.CDLL:
    """libnvrtc as a ctypes library, or NvrtcUnavailable naming what to install."""
    errors = []
    for path in library_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        return lib
    tried = "; ".join(errors) or "no libnvrtc found"
    raise NvrtcUnavailable(f"NVRTC is not available ({tried}): {INSTALL_HINT}")


def version() -> tuple[int, int]:
    major, minor = ctypes.c_int(), ctypes.c_int()
    _check(load().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
    return major.value, minor.value


def _check(status: int, what: str, log: str = "") -> None:
    if status != 0:
        message = load().nvrtcGetErrorString(status).decode()
        raise CompileError(f"{what}: {message}" + (f"\n{log}" if log else ""))


def compile_cubin(source: str, name: str, arch: str) -> bytes:
    """The CUBIN (machine code) of `source` for `arch` ("sm_80"); CompileError with NVRTC's
    log when it does not compile, or when it compiles without defining kernel `name`."""
    lib = load()
    program = ctypes.c_void_p()
    _check(lib.nvrtcCreateProgram(ctypes.byref(program), source.encode(),
                                  f"{name}.cu".encode(), 0, None, None), "nvrtcCreateProgram")
    try:
        options = [f"--gpu-architecture={arch}".encode(), b"--std=c++17"]
        status = lib.nvrtcCompileProgram(program, len(options),
                                         (ctypes.c_char_p * len(options))(*options))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(program, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(program, log)
        _check(status, f"{name} for {arch}", log.value.decode(errors="replace"))
        _check(lib.nvrtcGetCUBINSize(program, ctypes.byref(size)), "nvrtcGetCUBINSize")
        cubin = ctypes.create_string_buffer(size.value)
        _check(lib.nvrtcGetCUBIN(program, cubin), "nvrtcGetCUBIN")
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))
    if name.encode() not in cubin.raw:
        raise CompileError(f"{name} for {arch}: the CUBIN defines no kernel of that name")
    return cubin.raw


def compile_all(architectures=ARCHITECTURES) -> list[tuple[str, str, int]]:
    """Compile every kernel of gradflow's CUDA backend: (kernel, architecture, CUBIN bytes)."""
    from gradflow.backends.cupy import cuda_sources

    return [(name, arch, len(compile_cubin(source, name, arch)))
            for name, source in cuda_sources().items() for arch in architectures]


def main() -> int:
    major, minor = version()
    print(f"NVRTC {major}.{minor}: compiling gradflow's CUDA kernels (no GPU needed)")
    results = compile_all()
    print(f"{'kernel':<28} {'arch':<6} {'cubin bytes':>11}")
    for name, arch, size in results:
        print(f"{name:<28} {arch:<6} {size:>11}")
    print(f"{len(results)} compilations, {len({r[0] for r in results})} kernels: all compiled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
