"""What the benchmark scripts share: run settings, their command-line options, the lines that
say where a measurement ran, and the step that prints and saves a section's results.

A *section* is one group of contenders measured together (interleaved, ratios within rounds),
saved as ``<out_dir>/<section>.json``: ``overhead``, ``steps_mlp``, ``steps_cnn``,
``epoch_mlp``, ``epoch_cnn``, ``memory`` (and ``cuda_*`` for ``--device cuda``). Within a
section the contenders are named ``gradflow``, ``numpy``, ``torch`` and
``torch channels_last``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import Contender, environment, markdown_table, measure, write_results

GRADFLOW, NUMPY, TORCH, TORCH_CHANNELS_LAST = "gradflow", "numpy", "torch", "torch channels_last"
DEFAULT_OUT_DIR = Path("bench/results")
QUICK_OUT_DIR = Path("bench/results/quick")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How hard to measure. ``Settings.quick()`` is for smoke tests: its numbers mean nothing.

    Args:
        blocks: timed blocks (rounds) per contender for the short measurements.
        target_block_seconds: wanted block length; iterations per block follow from it.
        pause: seconds between contenders (OpenBLAS threads spin ~0.1 s after a call).
        warmup: untimed calls per contender before timing.
        batches: ``{"mlp": n, "cnn": n}``: batch sizes of the step and memory benchmarks
            (the epochs always use 128 and 64).
        max_other_load: redo a round when other processes took more than this share of the
            host's CPUs; ``None``: never redo.
        max_round_retries: how often a disturbed round is redone (epochs: at most once).
        quiet_wait_seconds: how long to wait for a quiet host before redoing a round.
        epoch_blocks: ``{"mlp": n, "cnn": n}``: epochs timed per contender.
        epoch_limit: train on the first this many images only (``None``: all 60,000).
        memory_repeats: child processes per memory figure (the median is reported).
        memory_steps: training steps each memory child runs.
        threads: BLAS and PyTorch threads; ``None``: as the environment sets them (PyTorch: 2).
        out_dir: where JSON results and TABLE.md go.
        preset: ``"full"`` or ``"quick"``, recorded with the results.

    Example:
        >>> Settings.quick().blocks
        2
    """

    blocks: int = 7
    target_block_seconds: float = 0.5
    pause: float = 0.3
    warmup: int = 3
    batches: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"mlp": 128, "cnn": 64}
    )
    max_other_load: float | None = 0.15
    max_round_retries: int = 3
    quiet_wait_seconds: float = 30.0
    epoch_blocks: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"mlp": 5, "cnn": 3}
    )
    epoch_limit: int | None = None
    memory_repeats: int = 3
    memory_steps: int = 20
    threads: int | None = None
    out_dir: Path = DEFAULT_OUT_DIR
    preset: str = "full"

    @classmethod
    def quick(cls, **changes: Any) -> Settings:
        """The smoke-test preset (tiny blocks and batches, no pauses, 600 images), with
        ``changes``."""
        values: dict[str, Any] = {
            "blocks": 2, "target_block_seconds": 0.02, "pause": 0.0, "warmup": 1,
            "batches": {"mlp": 16, "cnn": 4}, "max_other_load": None,
            "epoch_blocks": {"mlp": 1, "cnn": 1}, "epoch_limit": 600, "memory_repeats": 1,
            "memory_steps": 2, "threads": 1, "out_dir": QUICK_OUT_DIR, "preset": "quick",
        }
        values.update(changes)
        return cls(**values)

    def apply_threads(self) -> None:
        """Limit BLAS (threadpoolctl) and PyTorch to ``threads``, if set, for this process.

        NOTE: the quick preset runs single-threaded: with another process on one of two
        cores, two-thread BLAS steps were seen to slow down 10-40x, and a smoke test should
        not depend on that.
        """
        if self.threads is None:
            return
        import reference_torch

        reference_torch.TORCH_THREADS = self.threads
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return
        threadpool_limits(limits=self.threads)

    def measure(self, contenders: Sequence[Contender], **overrides: Any) -> dict[str, Any]:
        """``harness.measure`` with these settings; ``overrides`` win."""
        options: dict[str, Any] = {
            "blocks": self.blocks,
            "warmup": self.warmup,
            "pause": self.pause,
            "target_block_seconds": self.target_block_seconds,
            "max_other_load": self.max_other_load,
            "max_round_retries": self.max_round_retries,
            "quiet_wait_seconds": self.quiet_wait_seconds,
        }
        options.update(overrides)
        return measure(contenders, **options)

    def as_dict(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark script takes (see ``Settings``)."""
    parser.add_argument("--quick", action="store_true",
                        help="tiny blocks and sizes: checks that everything runs; numbers mean "
                        f"nothing (results go to {QUICK_OUT_DIR} unless --out-dir)")
    parser.add_argument("--blocks", type=int, help="timed blocks per contender (default 7)")
    parser.add_argument("--target-block-seconds", type=float)
    parser.add_argument("--pause", type=float, help="seconds between contenders")
    parser.add_argument("--max-other-load", type=float,
                        help="redo a round when other processes took more than this share of "
                        "the CPUs (default 0.15; negative: never redo)")
    parser.add_argument("--out-dir", type=Path, help=f"results folder (default {DEFAULT_OUT_DIR})")


def settings_from(args: argparse.Namespace, **changes: Any) -> Settings:
    """Settings from parsed ``add_arguments`` options, plus ``changes``."""
    given = {
        "blocks": args.blocks,
        "target_block_seconds": args.target_block_seconds,
        "pause": args.pause,
        "out_dir": args.out_dir,
    }
    values = {name: value for name, value in given.items() if value is not None}
    if args.max_other_load is not None:
        values["max_other_load"] = None if args.max_other_load < 0 else args.max_other_load
    values.update(changes)
    return Settings.quick(**values) if args.quick else Settings(**values)


def blas_pools(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    """threadpoolctl's BLAS entries from ``environment()``."""
    return [pool for pool in env.get("thread_pools") or [] if pool.get("user_api") == "blas"]


def describe_blas(pool: Mapping[str, Any]) -> str:
    """One line: ``OpenBLAS 0.3.29 (kernel Haswell, 2 threads, pthreads)``."""
    return (
        f"{pool.get('internal_api')} {pool.get('version')} (kernel {pool.get('architecture')}, "
        f"{pool.get('num_threads')} threads, {pool.get('threading_layer')})"
    )


def gradflow_malloc_tuning() -> dict[str, Any] | None:
    """gradflow's process-wide malloc settings, if its CPU backend made any in this process.

    NOTE: gradflow's CPU backend may call mallopt (larger mmap and trim thresholds) when it
    is first made; that holds for every contender timed in the same process afterwards.
    """
    import sys

    module = sys.modules.get("gradflow.backends.numpy")
    tuning = getattr(module, "MALLOC_TUNING", None)
    return dict(tuning) if isinstance(tuning, dict) else None


def environment_lines(env: Mapping[str, Any]) -> list[str]:
    """What a reader needs to know about the machine, for printing before the tables."""
    lines = [
        (f"{env['timestamp']}  {env['cpu_model']}, {env['usable_cores']} usable cores, "
        f"Python {env['python']}, NumPy {env['numpy']}, torch {env['torch']}"),
    ]
    lines += [f"BLAS {describe_blas(pool)}" for pool in blas_pools(env)]
    if env.get("torch_num_threads") is not None:
        lines.append(
            f"torch threads {env['torch_num_threads']}, CPU capability "
            f"{env['torch_cpu_capability']}"
        )
    lines.append(f"env: {env['env_vars']}  commit {env['git_commit']}")
    if env.get("gradflow_malloc_tuning"):
        lines.append(f"gradflow malloc tuning (whole process): {env['gradflow_malloc_tuning']}")
    return lines


def save_section(
    section: str,
    title: str,
    results: dict[str, Any],
    settings: Settings,
    table: str | None = None,
) -> Path:
    """Print a section's table and write ``<out_dir>/<section>.json`` with the environment.

    Args:
        section: file stem, e.g. ``steps_mlp``.
        title: what was measured, one line.
        results: ``measure``'s dict (or any JSON-able dict with a ``contenders`` key).
        settings: how it was measured (stored with the results).
        table: Markdown to print; default ``markdown_table(results)``.

    Returns:
        The JSON file's path.
    """
    env = environment()
    env["gradflow_malloc_tuning"] = gradflow_malloc_tuning()
    results = {"title": title, "settings": settings.as_dict(), **results}
    print(f"\n## {title}\n")
    for line in environment_lines(env):
        print(f"# {line}")
    if "load_average" in results:
        load = results["load_average"]
        print(
            f"# host load (1 min) before/after {load[0]:.2f}/{load[1]:.2f}; rounds redone "
            f"{results['rounds_retried']}, kept although disturbed {results['disturbed_rounds']}"
        )
    print()
    print(table if table is not None else markdown_table(results))
    path = write_results(section, results, env, out_dir=settings.out_dir)
    print(f"\nwrote {path}")
    return path
