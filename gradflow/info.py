"""gradflow.info(): what this machine offers."""

from __future__ import annotations

import platform


def info(print_out: bool = True) -> dict:
    """Report versions, backends and devices, and why any device is missing.

    Example:
        >>> gf.info(print_out=False)["devices"]["cpu"]
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
        from gradflow.tables import render

        rows = [[name, version] for name, version in versions.items()]
        rows += [[f"device {device}", status] for device, status in report["devices"].items()]
        rows.append(["malloc tuning", MALLOC_TUNING["reason"]])
        rows.append(["BLAS threads", (f"{threads['threads']} of {threads['usable_cores']} "
                                      f"usable cores ({threads['reason']})")])
        rows += [["BLAS pool", (f"{pool['library']} {pool['version']}, {pool['threads']} "
                                f"threads ({pool['threading_layer']})")]
                 for pool in threads["pools"]]
        spin = threads["openblas_thread_timeout"] or "unset (workers spin ~0.1 s)"
        rows.append(["OpenBLAS spin", f"OPENBLAS_THREAD_TIMEOUT={spin}"])
        print(render(["component", "version / status"], rows))
    return report
