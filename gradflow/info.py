"""gradflow.info(): what this machine offers."""

from __future__ import annotations

import platform


def info(print_out: bool = True) -> dict:
    """Report versions, backends and devices, and why any device is missing.

    Example:
        >>> gf.info()["devices"]["cpu"]
        'available'
    """
    import array_api_compat

    from gradflow import __version__
    from gradflow.backends import available_devices

    versions = {"gradflow": __version__, "python": platform.python_version(),
                "array-api-compat": array_api_compat.__version__}
    for module in ("numpy", "array_api_strict", "cupy"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = "not installed"
    from gradflow.backends import get_backend
    from gradflow.backends.numpy import MALLOC_TUNING

    get_backend("cpu")  # the CPU backend tunes malloc when it is first made

    from gradflow.backends.threads import policy

    threads = policy()
    report = {"versions": versions, "devices": available_devices(),
              "malloc_tuning": dict(MALLOC_TUNING), "threads": threads}
    if print_out:
        for name, version in versions.items():
            print(f"{name:>18}: {version}")
        for device, status in report["devices"].items():
            print(f"{'device ' + device:>18}: {status}")
        print(f"{'malloc tuning':>18}: {MALLOC_TUNING['reason']}")
        print(f"{'BLAS threads':>18}: {threads['threads']} of {threads['usable_cores']} usable "
              f"cores ({threads['reason']})")
        for pool in threads["pools"]:
            print(f"{'BLAS pool':>18}: {pool['library']} {pool['version']}, "
                  f"{pool['threads']} threads ({pool['threading_layer']})")
        print(f"{'OpenBLAS spin':>18}: OPENBLAS_THREAD_TIMEOUT="
              f"{threads['openblas_thread_timeout'] or 'unset (workers spin ~0.1 s)'}")
    return report
