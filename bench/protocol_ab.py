"""Two versions of gradflow in one process: the per-op chain and the MLP step, interleaved.

An earlier commit's ``gradflow/`` is taken out of git (``git archive``) into a temporary folder
as the package ``gradflow_base`` (every ``gradflow`` name in it renamed), imported beside the
working tree's ``gradflow``, and both run the same two workloads under ``harness.measure``:

- ``chain``: ``reference_torch``'s 200-op elementwise chain on 4 elements, forward and
  backward: the framework's work per op (dispatch, recording, backward), reported per op;
- ``mlp``: one SGD step of the 784-512-256-10 MLP on a batch of 128 (``steps.py``'s model).

Ratios are taken within each round (this tree / the base), as docs/benchmarking.md says.
This is how issue 16's "per-op overhead must not get worse" is measured against the first
op protocol (commit ``bba0d31``, the default base).

Usage (from the repository root):
    python bench/protocol_ab.py                    # base bba0d31, ~2 minutes
    python bench/protocol_ab.py --base HEAD~3 --blocks 11
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import reference_torch
from harness import Contender, environment, measure, write_results
from hostinfo import REPO_ROOT
from reference_torch import CHAIN_OPS, CHAIN_SIZE, CHAIN_START
from steps import MLP_BATCH, MLP_SIZES, gradflow_trainer

DEFAULT_BASE = "bba0d31"
BASE_PACKAGE = "gradflow_base"
_NAME = re.compile(r"\bgradflow\b")


def import_base(commit: str, into: Path) -> types.ModuleType:
    """Import ``commit``'s ``gradflow/`` as the package ``gradflow_base``.

    Args:
        commit: any git revision of this repository.
        into: an empty folder; the package is written under it and it is put on ``sys.path``.

    Returns:
        The imported ``gradflow_base`` module.

    Raises:
        subprocess.CalledProcessError: ``commit`` is not in this clone (a shallow CI clone).
    """
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "gradflow"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            target = into / BASE_PACKAGE / Path(member.name).relative_to("gradflow")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".py":
                data = _NAME.sub(BASE_PACKAGE, data.decode()).encode()
            target.write_bytes(data)
    for name in [n for n in sys.modules if n.split(".")[0] == BASE_PACKAGE]:
        del sys.modules[name]  # an earlier base (another commit) in this process
    sys.path.insert(0, str(into))
    importlib.invalidate_caches()
    module = importlib.import_module(BASE_PACKAGE)
    assert Path(module.__file__ or "").is_relative_to(into), module.__file__
    return module


def chain_factory(gf: types.ModuleType) -> Callable[[], Any]:
    """The 200-op chain's step (``reference_torch.chain_step``) on ``gf``'s tensors."""
    leaf = gf.full((CHAIN_SIZE,), CHAIN_START, dtype=gf.float32, requires_grad=True)
    return reference_torch.chain_step(leaf, CHAIN_OPS)


def mlp_factory(gf: types.ModuleType, seed: int = 0) -> Callable[[], Any]:
    """One SGD step of ``steps.py``'s MLP on a fixed batch, built from ``gf``'s own modules."""
    gf.manual_seed(seed)
    layers: list[Any] = []
    for fan_in, fan_out in zip(MLP_SIZES, MLP_SIZES[1:]):
        layers += [gf.nn.Linear(fan_in, fan_out), gf.nn.ReLU()]
    model = gf.nn.Sequential(*layers[:-1])
    inputs = gf.randn(MLP_BATCH, MLP_SIZES[0])
    labels = gf.randint(0, 10, (MLP_BATCH,))
    train_step = gradflow_trainer(model, gf)
    return lambda: train_step(inputs, labels)


def _check_same_results(base: types.ModuleType, current: types.ModuleType) -> None:
    """Both versions compute the same chain output and the same MLP losses (else no A/B)."""
    out_base, out_current = chain_factory(base)(), chain_factory(current)()
    assert (out_base.numpy() == out_current.numpy()).all(), "chain outputs differ"
    step_base, step_current = mlp_factory(base), mlp_factory(current)
    for _ in range(3):
        loss_base, loss_current = float(step_base()), float(step_current())
        assert abs(loss_base - loss_current) <= 1e-5 * abs(loss_base), (loss_base, loss_current)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="git revision to compare against")
    parser.add_argument("--blocks", type=int, default=9, help="timed blocks per contender")
    parser.add_argument("--quick", action="store_true", help="3 short blocks (a smoke run)")
    parser.add_argument("--only", choices=("chain", "mlp"), help="run one workload")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results")
    args = parser.parse_args(argv)

    import gradflow as current

    with tempfile.TemporaryDirectory(prefix="gradflow-base-") as folder:
        base = import_base(args.base, Path(folder))
        _check_same_results(base, current)
        # NOTE: a quick run (the smoke test in make test) never waits for a quiet host
        kwargs: dict[str, Any] = (
            {"blocks": 3, "target_block_seconds": 0.1, "warmup": 1, "pause": 0.05,
             "max_other_load": None}
            if args.quick else {"blocks": args.blocks, "max_other_load": 0.3}
        )
        results: dict[str, Any] = {}
        for workload, factory, per in (("chain", chain_factory, CHAIN_OPS),
                                       ("mlp", mlp_factory, 1)):
            if args.only and workload != args.only:
                continue
            contenders = [
                Contender(f"{workload} base", lambda f=factory: f(base), ops_per_step=per),
                Contender(f"{workload} current", lambda f=factory: f(current), ops_per_step=per),
            ]
            got = measure(contenders, baseline=f"{workload} base", **kwargs)
            results[workload] = got
            _print(workload, got, args.base)
    if not args.no_write:
        write_results("protocol_ab", {"base": args.base, **results}, environment())
    return results


def _print(workload: str, got: dict[str, Any], base: str) -> None:
    unit, scale = ("µs/op", 1e6) if workload == "chain" else ("ms/step", 1e3)
    stats = got["contenders"]
    base_s, current_s = (stats[f"{workload} {who}"] for who in ("base", "current"))
    print(f"{workload}: base ({base}) {base_s['median_s_per_op'] * scale:.2f} {unit}, "
          f"this tree {current_s['median_s_per_op'] * scale:.2f} {unit}; this tree / base, "
          f"median of {len(current_s['round_ratios'])} rounds: "
          f"{current_s['ratio_to_baseline']:.3f} "
          f"(min {current_s['ratio_min']:.3f}, max {current_s['ratio_max']:.3f}); "
          f"disturbed rounds {got['disturbed_rounds']}")


if __name__ == "__main__":
    main()
