"""Smoke test and demo of the harness: NumPy vs PyTorch reference steps, interleaved.

Usage (from the repository root):
    python bench/demo_harness.py            # MLP and 200-op chain, ~1 minute
    python bench/demo_harness.py --cnn      # also the CNN step (NumPy, torch NCHW and NHWC)

Prints one Markdown table per group (ratios within the group) and writes
bench/results/<name>.json with the environment.
"""

from __future__ import annotations

import argparse
import functools

import reference_numpy
import reference_torch
from harness import (
    Contender,
    environment,
    markdown_table,
    measure,
    wait_for_quiet_host,
    write_results,
)


def _contender_groups(with_cnn: bool) -> dict[str, list[Contender]]:
    chain_ops = reference_torch.CHAIN_OPS
    groups = {
        "MLP 784-512-256-10, batch 128, one SGD step": [
            Contender("torch MLP", reference_torch.mlp_step_factory),
            Contender("numpy MLP", reference_numpy.mlp_step_factory),
        ],
        f"{chain_ops}-op chain on a {reference_torch.CHAIN_SIZE}-element tensor": [
            Contender("torch chain fwd+bwd", reference_torch.chain_factory, chain_ops),
            Contender("numpy chain fwd only", reference_torch.numpy_chain_factory, chain_ops),
        ],
    }
    if with_cnn:
        groups["CNN (2 conv + 2 linear), batch 64, one SGD step"] = [
            Contender("torch CNN NCHW", reference_torch.cnn_step_factory),
            Contender(
                "torch CNN channels_last",
                functools.partial(reference_torch.cnn_step_factory, channels_last=True),
            ),
            Contender("numpy CNN (NHWC im2col)", reference_numpy.cnn_step_factory),
        ]
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnn", action="store_true", help="also time the CNN step")
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--target-block-seconds", type=float, default=0.5)
    parser.add_argument("--pause", type=float, default=0.3)
    parser.add_argument("--name", default=None, help="results file stem")
    parser.add_argument(
        "--max-other-load", type=float, default=0.15,
        help="redo a round if other processes took more than this share of the CPUs "
        "(negative: never redo)",
    )
    args = parser.parse_args()
    max_other_load = None if args.max_other_load < 0 else args.max_other_load

    groups = _contender_groups(args.cnn)
    contenders = [contender for group in groups.values() for contender in group]
    if max_other_load is not None:
        other = wait_for_quiet_host(max_other_load, timeout=60)
        print(f"# other processes' CPU share before starting: {other:.0%}")
    results = measure(
        contenders,
        blocks=args.blocks,
        pause=args.pause,
        target_block_seconds=args.target_block_seconds,
        max_other_load=max_other_load,
    )
    env = environment()

    blas = [pool for pool in env["thread_pools"] or [] if pool.get("user_api") == "blas"]
    print(f"# {env['timestamp']}  {env['cpu_model']}, {env['usable_cores']} cores")
    for pool in blas:
        print(
            f"# BLAS {pool['internal_api']} {pool['version']} kernel={pool.get('architecture')}"
            f" threads={pool['num_threads']} ({pool.get('threading_layer')})"
        )
    print(f"# env: {env['env_vars']}")
    load = results["load_average"]
    print(f"# host load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")
    print(
        f"# rounds redone for interference: {results['rounds_retried']}; kept although"
        f" disturbed: {results['disturbed_rounds']} (limit {max_other_load})"
    )
    print(f"# blocks={args.blocks}, ratios = median of per-round ratios (range in brackets)")
    for title, group in groups.items():
        names = [contender.name for contender in group]
        print(f"\n## {title}\n")
        print(markdown_table(results, baseline=names[0], names=names))

    name = args.name or ("demo_harness_cnn" if args.cnn else "demo_harness")
    path = write_results(name, results, env)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
