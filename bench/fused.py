"""Does the numba fast path (gradflow/backends/fused.py) pay inside the real training step?

Times, interleaved in this process (``harness.measure``), gradflow's MLP and CNN steps of
``steps.py`` with the fused kernels on, with them off (the NumPy kernels), and with each
fused kernel alone turned off, so that a kernel that does not pay in the step shows. The
switch is the CPU backend's ``fused`` attribute (``GRADFLOW_NUMBA=0`` sets it off when the
backend is created); each contender sets its switches before every step. It also reports
the first-call compile time of the kernels in fresh processes, with an empty and with a
warm cache directory, and the installed size of numba and llvmlite.

Usage (from the repository root):
    python bench/fused.py                        # both models, ~2 minutes
    python bench/fused.py --model cnn --blocks 5 --no-ablation
    python bench/fused.py --model cnn --without sgd_step --no-compile-times
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import harness
import steps
from harness import Contender

KERNELS = ("max_pool2d_forward", "max_pool2d_backward", "sgd_step")
_FIRST_CALL = """
import time, numpy as np
start = time.perf_counter()
from gradflow.backends import fused
k = fused.kernels()
x = np.ones((2, 4, 4, 3), np.float32); i = np.zeros((2, 2, 2, 3), np.uint8)
k.max_pool_nhwc(x, 2, 2, np.empty((2, 2, 2, 3), np.float32), i)
k.max_pool_nchw(x, 2, 2, np.empty((2, 4, 2, 1), np.float32), np.empty((2, 4, 2, 1), np.uint8))
k.max_unpool_nhwc(np.ones((2, 2, 2, 3), np.float32), i, 2, 2, np.empty_like(x), np.float32(0))
k.sgd_step(x.ravel(), x.ravel(), x.ravel(), *map(np.float32, (0.1, 0, 1, 0)), False, False, False)
f = np.float32
k.adam_step(*[np.ones(4, f) for _ in range(5)], *map(f, (0.1, 0.9, 0.1, 1e-8, 0, 1, 0.1, 1)),
            False, False)
print(time.perf_counter() - start)
"""


def _contender(model: str, name: str, fused_on: bool, without: str | None = None) -> Contender:
    def setup():
        from gradflow.backends import fused, get_backend

        backend = get_backend("cpu")
        original = getattr(fused, without) if without else None
        step = steps.gradflow_step_factory(model)

        def run():
            backend.fused = fused_on
            if without:
                setattr(fused, without, lambda *args: None)  # None/False: NumPy runs
            try:
                step()
            finally:
                if without:
                    setattr(fused, without, original)

        return run

    return Contender(name, setup)


def compare(model: str, blocks: int, ablation: tuple[str, ...]) -> dict:
    contenders = [_contender(model, "numba", True), _contender(model, "numpy", False)]
    contenders += [_contender(model, f"numba without {k}", True, k) for k in ablation]
    return harness.measure(contenders, blocks=blocks, baseline="numpy")


def cpu_ratios(result: dict, name: str, baseline: str = "numpy") -> list[float]:
    """Per-round ratios of process CPU time per step (wall time x CPU/wall of the block).

    NOTE: on a host shared with other busy processes this step got a third of a core
    (CPU/wall 0.3-0.5) and wall-time ratios ranged 0.45-1.45; CPU time is what the
    kernels change, and its ratios stayed within about +-8%.
    """
    def cpu(stats):
        return [t * share for t, share in zip(stats["block_seconds_per_iter"],
                                              stats["block_cpu_per_wall"])]

    stats = result["contenders"]
    return [a / b for a, b in zip(cpu(stats[name]), cpu(stats[baseline]))]


def first_call_seconds(cache: str) -> float:
    """Seconds from importing fused.py to every kernel compiled (or loaded from `cache`)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def install_mib() -> dict[str, float]:
    import llvmlite
    import numba

    sizes = {}
    for module in (numba, llvmlite):
        folder = pathlib.Path(module.__file__).parent
        sizes[module.__name__] = sum(f.stat().st_size for f in folder.rglob("*")
                                     if f.is_file()) / 2**20
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=steps.MODELS, action="append")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--without", choices=KERNELS, action="append",
                        help="the kernels to turn off one at a time (default: each)")
    parser.add_argument("--no-compile-times", action="store_true")
    parser.add_argument("--json", default="bench/results/fused.json")
    args = parser.parse_args()
    report: dict = {"load_average_before": os.getloadavg()}
    if not args.no_compile_times:
        with tempfile.TemporaryDirectory() as cache:
            report["first_call_cold_s"] = first_call_seconds(cache)
            report["first_call_warm_s"] = first_call_seconds(cache)
        report["install_mib"] = install_mib()
        print(f"first call: {report['first_call_cold_s']:.2f} s cold cache, "
              f"{report['first_call_warm_s']:.2f} s warm; installed MiB: "
              f"{report['install_mib']}")
    for model in args.model or steps.MODELS:
        start = time.perf_counter()
        ablation = () if args.no_ablation else tuple(args.without or KERNELS)
        result = compare(model, args.blocks, ablation)
        report[model] = result
        print(f"\n{steps.TITLES[model]} ({time.perf_counter() - start:.0f} s, load average "
              f"{result['load_average']})")
        for name, stats in result["contenders"].items():
            cpu = sorted(cpu_ratios(result, name))
            stats["cpu_ratios"] = cpu
            print(f"  {name:34s} median {stats['median_s'] * 1e3:7.2f} ms   wall ratio "
                  f"{stats['ratio_to_baseline']:.3f} ({stats['ratio_min']:.3f}-"
                  f"{stats['ratio_max']:.3f})   CPU-time ratio {cpu[len(cpu) // 2]:.3f} "
                  f"({cpu[0]:.3f}-{cpu[-1]:.3f})")
    report["load_average_after"] = os.getloadavg()
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
