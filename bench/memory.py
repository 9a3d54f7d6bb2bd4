"""Peak resident memory of a training process: MLP and CNN, gradflow vs PyTorch vs NumPy.

Each figure is the peak RSS (``hostinfo.peak_rss_mib``) of a fresh child process that imports
one framework, builds one model with its SGD optimizer and trains ``--steps`` steps on a fixed
random batch (the steps of ``steps.py``: MLP batch 128, CNN batch 64, PyTorch in its default
layout); the median over a few children is reported. A child that only imports the framework
gives the floor each framework starts from (``import torch`` alone is ~220 MiB). The children
inherit this process's environment, so every contender runs under the same BLAS settings.

Usage (from the repository root):
    python bench/memory.py                # ~1 minute
    python bench/memory.py --quick
    python bench/memory.py --child gradflow cnn --steps 20    # one child, by hand
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import suite
from hostinfo import peak_rss_mib

# gradflow again with its numba kernels off (GRADFLOW_NUMBA=0): importing numba and llvmlite
# costs ~100 MiB, and numba comes only with the optional cpu-fast extra
GRADFLOW_NO_NUMBA = "gradflow, numba off"
FRAMEWORKS = (suite.GRADFLOW, GRADFLOW_NO_NUMBA, suite.NUMPY, suite.TORCH)
WORKLOADS = ("import", "mlp", "cnn")
TITLE = "Peak resident memory of a training process"
_SCRIPT = Path(__file__).resolve()


def _child_step(framework: str, workload: str, batch: int | None) -> Callable[[], Any] | None:
    """Import the framework (and only it); for a model, build its training step."""
    if framework == suite.GRADFLOW:
        import steps

        import gradflow  # noqa: F401

        return None if workload == "import" else steps.gradflow_step_factory(workload, batch)
    if framework == suite.NUMPY:
        import numpy  # noqa: F401
        import steps

        return None if workload == "import" else steps.numpy_step_factory(workload, batch)
    import reference_torch

    reference_torch._torch()
    import steps

    return None if workload == "import" else steps.torch_step_factory(workload, batch)


def child_main(framework: str, workload: str, n_steps: int, batch: int | None,
               threads: int | None) -> None:
    """What a child process runs: ``n_steps`` training steps, then exit."""
    suite.Settings(threads=threads).apply_threads()
    step = _child_step(framework, workload, batch)
    if step is not None:
        for _ in range(n_steps):
            step()


def child_command(framework: str, workload: str, settings: suite.Settings) -> list[str]:
    if framework == GRADFLOW_NO_NUMBA:
        framework = suite.GRADFLOW  # the same child; child_env turns numba off
    command = [sys.executable, str(_SCRIPT), "--child", framework, workload,
               "--steps", str(settings.memory_steps)]
    if workload != "import":
        command += ["--batch", str(settings.batches[workload])]
    if settings.threads is not None:
        command += ["--threads", str(settings.threads)]
    return command


def child_env(framework: str) -> dict[str, str] | None:
    """The child's environment: this process's, with GRADFLOW_NUMBA=0 for numba off."""
    return dict(os.environ, GRADFLOW_NUMBA="0") if framework == GRADFLOW_NO_NUMBA else None


def run(
    settings: suite.Settings,
    workloads: tuple[str, ...] = WORKLOADS,
    frameworks: tuple[str, ...] = FRAMEWORKS,
) -> dict[str, dict[str, Any]]:
    """Measure each framework on each workload; save ``memory.json``; return the results.

    Results: ``{"workloads": {workload: {framework: {"median_mib", "runs_mib"}}}, ...}``;
    children run round-robin (framework by framework within a workload, then again).
    """
    settings.apply_threads()
    runs: dict[str, dict[str, list[float]]] = {
        workload: {framework: [] for framework in frameworks} for workload in workloads
    }
    for _ in range(settings.memory_repeats):
        for workload in workloads:
            for framework in frameworks:
                command = child_command(framework, workload, settings)
                runs[workload][framework].append(
                    peak_rss_mib(command, env=child_env(framework), timeout=600))
    results: dict[str, Any] = {
        "steps": settings.memory_steps,
        "repeats": settings.memory_repeats,
        "batches": dict(settings.batches),
        "workloads": {
            workload: {
                framework: {"median_mib": statistics.median(values), "runs_mib": values}
                for framework, values in by_framework.items()
            }
            for workload, by_framework in runs.items()
        },
    }
    suite.save_section("memory", TITLE, results, settings, table=memory_table(results))
    return {"memory": results}


def memory_table(results: dict[str, Any]) -> str:
    """Markdown: one row per workload, median peak MiB per framework and gradflow / torch."""
    lines = [
        "| workload | " + " | ".join(f"{name} (MiB)" for name in FRAMEWORKS)
        + " | gradflow / torch |",
        "|" + "---|" * (len(FRAMEWORKS) + 2),
    ]
    for workload, by_framework in results["workloads"].items():
        medians = {name: by_framework[name]["median_mib"] for name in by_framework}
        cells = [f"{medians[name]:.0f}" if name in medians else "–" for name in FRAMEWORKS]
        ratio = "–"
        if suite.GRADFLOW in medians and suite.TORCH in medians:
            ratio = f"{medians[suite.GRADFLOW] / medians[suite.TORCH]:.2f}"
        lines.append(f"| {workload} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"),
                        help=f"run one child: FRAMEWORK in {FRAMEWORKS}, WORKLOAD in {WORKLOADS}")
    parser.add_argument("--steps", type=int, help="training steps per child (default 20)")
    parser.add_argument("--batch", type=int, help="batch size in a child")
    parser.add_argument("--threads", type=int, help="BLAS and torch threads in a child")
    parser.add_argument("--repeats", type=int, help="children per figure (default 3)")
    suite.add_arguments(parser)
    args = parser.parse_args()
    if args.child:
        framework, workload = args.child
        if framework not in FRAMEWORKS or workload not in WORKLOADS:
            parser.error(f"--child takes one of {FRAMEWORKS} and one of {WORKLOADS}")
        child_main(framework, workload, args.steps or 20, args.batch, args.threads)
        return
    changes = {"memory_steps": args.steps, "memory_repeats": args.repeats}
    run(suite.settings_from(args, **{k: v for k, v in changes.items() if v is not None}))


if __name__ == "__main__":
    main()
