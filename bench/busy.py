"""The training steps (and, with --epochs, one Fashion-MNIST epoch) on a busy machine.

A second process keeps one core busy (``python -c "while True: pass"``, started here and
stopped in a ``finally``) while the contenders are timed, interleaved in this process as
``steps.py`` and ``epoch.py`` time them:

- gradflow "auto": the default thread policy (gradflow/backends/threads.py), re-evaluated
  at the start of each of its blocks, as ``fit`` does every epoch and every 200 steps;
- gradflow with every usable core given to BLAS (what it did before the policy);
- hand-written NumPy and PyTorch with their default threads (all usable cores).

All contenders share one OpenBLAS, so each sets the BLAS pool to its own count when its
block starts (one threadpoolctl call per block, outside the steps it times).

Usage (from the repository root):
    python bench/busy.py                  # MLP and CNN steps, busy, a few minutes
    python bench/busy.py --epochs         # also one Fashion-MNIST epoch per model
    python bench/busy.py --quick          # checks that it runs; numbers mean nothing
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import epoch
import steps
import suite
from harness import Contender

GRADFLOW_AUTO = "gradflow auto"
GRADFLOW_ALL_CORES = "gradflow all cores"
_owner: list[str | None] = [None]


def _pool_switcher(name: str, choose_threads: Callable[[], int]) -> Callable[[], None]:
    """Set the BLAS pool when `name` takes over from another contender; a no-op otherwise."""
    from threadpoolctl import threadpool_limits

    def switch() -> None:
        if _owner[0] != name:
            threadpool_limits(limits=choose_threads(), user_api="blas")
            _owner[0] = name

    return switch


def _with_threads(contender: Contender, name: str, choose_threads: Callable[[], int]) -> Contender:
    def setup() -> Callable[[], Any]:
        switch = _pool_switcher(name, choose_threads)
        switch()
        step = contender.setup()

        def timed() -> Any:
            switch()
            return step()

        return timed

    return Contender(name, setup, contender.ops_per_step)


def _auto_threads() -> int:
    from gradflow.backends import threads

    threads.set_num_threads("auto") if threads._state["policy"] != "auto" else None
    return threads.rebalance()


def _all_cores() -> int:
    from gradflow.backends.threads import usable_cores

    return usable_cores()


def busy_contenders(group: list[Contender]) -> list[Contender]:
    """gradflow twice (auto, all cores), then NumPy and PyTorch with default threads."""
    by_name = {c.name: c for c in group}
    gradflow = by_name[suite.GRADFLOW]
    out = [
        _with_threads(gradflow, GRADFLOW_AUTO, _auto_threads),
        _with_threads(gradflow, GRADFLOW_ALL_CORES, _all_cores),
        _with_threads(by_name[suite.NUMPY], suite.NUMPY, _all_cores),
    ]
    out += [c for c in group if c.name not in (suite.GRADFLOW, suite.NUMPY)]
    return out


def start_spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(settings: suite.Settings, models: tuple[str, ...], with_epochs: bool) -> dict[str, Any]:
    # NOTE: the load guard would wait for a quiet machine; here the load is the point.
    measure = functools.partial(settings.measure, max_other_load=None)
    results = {}
    spinner = start_spinner()
    try:
        for model in models:
            group = busy_contenders(steps.contenders(model, settings.batches.get(model)))
            section = f"busy_steps_{model}"
            results[section] = measure(group)
            suite.save_section(section, f"{steps.TITLES[model]}, one core busy",
                               results[section], settings)
        if with_epochs:
            images, labels = epoch.load_data(settings.epoch_limit)
            for model in models:
                group = busy_contenders(epoch.contenders(model, images, labels))
                section = f"busy_epoch_{model}"
                results[section] = measure(group, blocks=settings.epoch_blocks[model],
                                           iters_per_block=1, warmup=0)
                suite.save_section(section, f"{epoch.TITLES[model]}, one core busy",
                                   results[section], settings)
    finally:
        spinner.kill()
        spinner.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    parser.add_argument("--model", choices=steps.MODELS, action="append")
    parser.add_argument("--epochs", action="store_true", help="also one epoch per model")
    args = parser.parse_args()
    settings = suite.settings_from(args)
    run(settings, tuple(args.model or steps.MODELS), args.epochs)


if __name__ == "__main__":
    main()
