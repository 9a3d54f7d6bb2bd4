"""``make bench``: every benchmark against PyTorch and hand-written NumPy, then the table.

Sections, each saved as ``<out-dir>/<section>.json`` with the environment (threadpoolctl's
BLAS, versions, CPU, the OpenBLAS/OMP/GLIBC variables, git commit):

- ``overhead``: per-op overhead, 200-op chain forward + backward (``overhead.py``);
- ``steps``: one MLP and one CNN training step (``steps.py``), after checking that gradflow
  and PyTorch agree on loss and gradients for the same weights;
- ``epoch``: one Fashion-MNIST epoch per model (``epoch.py``);
- ``memory``: peak RSS of a training process per framework and model (``memory.py``).

Then ``<out-dir>/TABLE.md`` (each issue-6 target met or missed, machine, method) and
``DETAILS.md`` are rebuilt from all JSON files in ``<out-dir>``; ``--readme`` splices TABLE.md
into README.md. The full run takes about 10 minutes on 2 cores; ``--quick`` under a minute.

With ``--device cuda`` (or ``auto`` where CuPy and PyTorch see a GPU) the per-op chain and the
training steps run on the GPU instead, gradflow on CuPy against PyTorch CUDA, timed with CUDA
events (``gpu.py``; that path has not been run on a GPU yet).

Usage (from the repository root):
    python bench/run.py                          # everything, CPU
    python bench/run.py --quick                  # smoke test -> bench/results/quick/
    python bench/run.py --only steps,overhead    # some sections (the table keeps the others)
    python bench/run.py --device cuda
    python bench/table.py --readme README.md     # rebuild TABLE.md, splice it into README
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import logging
import sys
import time
from typing import Any

import suite
import table
from harness import wait_for_quiet_host
from hostinfo import REPO_ROOT

SECTIONS = ("overhead", "steps", "epoch", "memory")
GPU_SECTIONS = ("overhead", "steps")


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SECTIONS)}; got {text!r}")
    return chosen


def choose_device(requested: str) -> str:
    """``cpu`` or ``cuda``; ``auto`` picks ``cuda`` where gradflow and PyTorch both see a GPU.

    Raises:
        SystemExit: ``cuda`` was asked for and cannot run here.
    """
    if requested == "cpu":
        return "cpu"
    import gpu

    reason = gpu.unavailable_reason()
    if requested == "cuda" and reason:
        raise SystemExit(f"bench: --device cuda cannot run here: {reason}")
    device = "cuda" if not reason else "cpu"
    if requested == "auto":
        print(f"# device auto chose {device}" + (f" ({reason})" if reason else ""))
    return device


def run_sections(
    sections: tuple[str, ...], settings: suite.Settings, device: str = "cpu"
) -> dict[str, Any]:
    """Run the chosen sections; return ``{section file stem: results}``."""
    results: dict[str, Any] = {}
    if device == "cuda":
        import gpu

        skipped = [name for name in sections if name not in GPU_SECTIONS]
        if skipped:
            print(f"# --device cuda: {', '.join(skipped)} run on the CPU only; skipped")
        if any(name in GPU_SECTIONS for name in sections):
            results.update(gpu.run(settings))
        return results
    for name in sections:
        results.update(importlib.import_module(name).run(settings))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--only", type=_sections, default=SECTIONS,
                        help=f"comma-separated sections to run, of {', '.join(SECTIONS)}")
    parser.add_argument("--limit", type=int, help="epochs: train on the first N images only")
    parser.add_argument("--epochs", type=int, help="epochs timed per contender (both models)")
    parser.add_argument("--readme", action="store_true",
                        help="splice the new TABLE.md into README.md")
    suite.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if importlib.util.find_spec("torch") is None:
        print("bench: PyTorch is the comparison: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    changes: dict[str, Any] = {}
    if args.limit is not None:
        changes["epoch_limit"] = args.limit
    if args.epochs is not None:
        changes["epoch_blocks"] = {"mlp": args.epochs, "cnn": args.epochs}
    settings = suite.settings_from(args, **changes)
    device = choose_device(args.device)

    started = time.perf_counter()
    if settings.max_other_load is not None:
        other = wait_for_quiet_host(settings.max_other_load, timeout=60)
        print(f"# other processes' CPU share before starting: {other:.0%}")
        if other > settings.max_other_load:
            # Redoing rounds on a host that stays busy only multiplies the run time.
            print("# the host stays busy: disturbed rounds are kept (and counted), not redone")
            settings = dataclasses.replace(settings, max_round_retries=0)
    run_sections(args.only, settings, device)
    table_path = table.build(settings.out_dir)
    print()
    print(table_path.read_text(encoding="utf-8"))
    print(f"wrote {table_path} and {table_path.with_name('DETAILS.md')}")
    if args.readme:
        readme = REPO_ROOT / "README.md"
        table.splice_readme(readme, table_path.read_text(encoding="utf-8"))
        print(f"spliced the table into {readme}")
    print(f"# total wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
