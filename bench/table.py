"""The results table: every issue-6 target, met or missed, from the JSON files of a run.

``build(out_dir)`` reads ``<out_dir>/<section>.json`` (whatever sections are there) and writes
``<out_dir>/TABLE.md`` (targets, machine, method) and ``<out_dir>/DETAILS.md`` (every
contender's times, spread, ratios and page faults). ``splice_readme`` puts TABLE.md into
README.md between ``<!-- BENCH-TABLE -->`` and ``<!-- /BENCH-TABLE -->``; where README has only
the first marker, the second is added after the table.

Usage (from the repository root):
    python bench/table.py                       # rebuild TABLE.md and DETAILS.md
    python bench/table.py --readme README.md    # ... and splice TABLE.md into README.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import suite
from harness import format_seconds, markdown_table, round_ratios
from hostinfo import REPO_ROOT

BEGIN_MARKER = "<!-- BENCH-TABLE -->"
END_MARKER = "<!-- /BENCH-TABLE -->"
COLUMNS = (suite.GRADFLOW, suite.NUMPY, suite.TORCH, suite.TORCH_CHANNELS_LAST)
COLUMN_TITLES = ("gradflow", "hand-written NumPy", "PyTorch", "PyTorch channels_last")


@dataclasses.dataclass(frozen=True)
class Target:
    """One issue-6 target on gradflow's figure.

    ``against`` names the contender of a ratio (gradflow / against); ``None`` makes ``limit``
    an absolute bound on gradflow's own figure (seconds per op, or per step).
    """

    label: str
    limit: float
    against: str | None = None
    per_op: bool = False


@dataclasses.dataclass(frozen=True)
class Row:
    section: str  # JSON file stem; "memory:<workload>" for a memory workload
    title: str
    targets: tuple[Target, ...]


ROWS = (
    Row("overhead", "per-op overhead, forward + backward (200-op chain, 4 elements)",
        (Target("≤ 4 µs per op", 4e-6, per_op=True),)),
    Row("steps_mlp", "MLP step (784-512-256-10, batch 128)",
        (Target("≤ 1.05× NumPy", 1.05, suite.NUMPY), Target("≤ 0.85× PyTorch", 0.85, suite.TORCH))),
    Row("steps_cnn", "CNN step (2 conv + 2 linear, batch 64)",
        (Target("≤ 1.0× PyTorch", 1.0, suite.TORCH),
         Target("≤ 1.5× PyTorch channels_last", 1.5, suite.TORCH_CHANNELS_LAST))),
    Row("memory:mlp", "peak RSS, MLP training process (batch 128)",
        (Target("≤ 0.5× PyTorch", 0.5, suite.TORCH),)),
    Row("memory:cnn", "peak RSS, CNN training process (batch 64)",
        (Target("≤ 0.5× PyTorch", 0.5, suite.TORCH),)),
    Row("epoch_mlp", "Fashion-MNIST epoch, MLP",
        (Target("≤ 0.8 s", 0.8),)),
    Row("epoch_cnn", "Fashion-MNIST epoch, CNN",
        (Target("≤ 1.0× PyTorch", 1.0, suite.TORCH),)),
)
FULL_EPOCH = 60_000
CUDA_SECTIONS = ("cuda_overhead", "cuda_steps_mlp", "cuda_steps_cnn")


def load_sections(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Every ``<section>.json`` in ``out_dir`` that ``ROWS`` or the CUDA table uses."""
    names = dict.fromkeys(row.section.split(":")[0] for row in ROWS)
    sections = {}
    for name in [*names, *CUDA_SECTIONS]:
        path = out_dir / f"{name}.json"
        if path.exists():
            sections[name] = json.loads(path.read_text(encoding="utf-8"))
    return sections


def _time_cell(results: Mapping[str, Any], name: str, per_op: bool) -> str:
    stats = results["contenders"].get(name)
    if stats is None:
        return "–"
    value = stats["median_s_per_op"] if per_op else stats["median_s"]
    cell = f"{format_seconds(value)} ±{stats['spread_pct'] / 2:.0f}%"
    if per_op and name == suite.NUMPY:
        cell += " (forward only)"
    return cell


def _row_cells(row: Row, sections: Mapping[str, Any]) -> list[str] | None:
    """Each column's figure for the row, and per target: measured figure and verdict."""
    name, _, workload = row.section.partition(":")
    if name not in sections:
        return None
    results = sections[name]["results"]
    cells: list[str] = []
    if workload:
        by_framework = results["workloads"].get(workload, {})
        medians = {key: value["median_mib"] for key, value in by_framework.items()}
        cells = [f"{medians[col]:.0f} MiB" if col in medians else "–" for col in COLUMNS]
        from memory import GRADFLOW_NO_NUMBA

        if GRADFLOW_NO_NUMBA in medians and suite.GRADFLOW in medians:
            cells[COLUMNS.index(suite.GRADFLOW)] += (
                f" ({medians[GRADFLOW_NO_NUMBA]:.0f} MiB without numba)")
    else:
        per_op = any(target.per_op for target in row.targets)
        cells = [_time_cell(results, col, per_op) for col in COLUMNS]
    verdicts = []
    for target in row.targets:
        if workload:
            if suite.GRADFLOW not in medians or target.against not in medians:
                verdicts.append((target.label, "–", "not measured"))
                continue
            value = medians[suite.GRADFLOW] / medians[target.against]
            measured = f"{value:.2f}×"
        elif target.against is not None:
            if target.against not in results["contenders"]:
                verdicts.append((target.label, "–", "not measured"))
                continue
            ratios = round_ratios(results, suite.GRADFLOW, target.against)
            value = statistics.median(ratios)
            measured = f"{value:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
        else:
            stats = results["contenders"][suite.GRADFLOW]
            value = stats["median_s_per_op"] if target.per_op else stats["median_s"]
            measured = format_seconds(value)
            if results.get("images", FULL_EPOCH) != FULL_EPOCH:
                # An absolute bound on an epoch holds for the full 60,000 images only.
                verdicts.append((target.label, measured, f"n/a ({results['images']} images)"))
                continue
        verdicts.append((target.label, measured, "met" if value <= target.limit else "**missed**"))
    title = row.title
    batch = results.get("batch") if not workload else results.get("batches", {}).get(workload)
    if batch is not None and f"batch {batch}" not in title and "epoch" not in row.section:
        title += f" — here batch {batch}"
    rows = []
    for index, (label, measured, verdict) in enumerate(verdicts):
        lead = [title, *cells] if index == 0 else ["", *([""] * len(cells))]
        rows.append(lead + [label, measured, verdict])
    return rows


def _machine_lines(sections: Mapping[str, Any]) -> list[str]:
    env_by_section = {name: data["environment"] for name, data in sections.items()}
    first = next(iter(env_by_section.values()))
    # PyTorch's threads and kernel are known only where torch was imported in the process.
    torch_env = next(
        (env for env in env_by_section.values() if env.get("torch_num_threads") is not None), first
    )
    blas = "; ".join(suite.describe_blas(pool) for pool in suite.blas_pools(first)) or "unknown"
    set_vars = {key: value for key, value in first["env_vars"].items() if value is not None}
    lines = [
        (f"Machine: {first['cpu_model']}, {first['usable_cores']} usable cores "
        f"({', '.join(first['cpu_flags'] or [])}); {first['platform']}."),
        (f"Software: Python {first['python']}, NumPy {first['numpy']} with BLAS {blas}; "
        f"PyTorch {first['torch']} ({torch_env.get('torch_num_threads')} threads, "
        f"{torch_env.get('torch_cpu_capability')} kernels). Environment variables set: "
        f"{set_vars or 'none of ' + ', '.join(first['env_vars'])}."),
    ]
    tuning = first.get("gradflow_malloc_tuning") or {}
    if tuning.get("active"):
        lines.append(
            f"gradflow's CPU backend tunes malloc for its whole process ({tuning['reason']}): "
            "every contender timed here ran with it; in the memory children only gradflow's."
        )
    stamps = sorted({(env["timestamp"][:16].replace("T", " "), (env["git_commit"] or "?")[:10])
                     for env in env_by_section.values()})
    if len({commit for _, commit in stamps}) == 1:
        lines.append(f"Measured {stamps[0][0]} to {stamps[-1][0]} UTC at commit {stamps[0][1]}.")
    else:
        lines.append("Measured at different commits: " + "; ".join(
            f"{name} {env['timestamp'][:16]} at {(env['git_commit'] or '?')[:10]}"
            for name, env in env_by_section.items()) + ".")
    return lines


def _method_lines(sections: Mapping[str, Any]) -> list[str]:
    settings = next(iter(sections.values()))["results"].get("settings", {})
    epoch_blocks = settings.get("epoch_blocks", {})
    lines = [
        ("Method: every contender in one process, interleaved block by block with the order "
        f"rotated each round ({settings.get('blocks')} blocks of about "
        f"{settings.get('target_block_seconds')} s each for steps and per-op; one epoch per "
        f"block, {epoch_blocks.get('mlp')} (MLP) and {epoch_blocks.get('cnn')} (CNN) rounds, "
        "after a few warm-up batches). Times are medians; ± is half the spread "
        "(max − min) over blocks. Ratios are gradflow / contender per round, median (min–max) "
        "over rounds. Peak RSS: median over "
        f"{settings.get('memory_repeats')} fresh child processes, each importing one framework "
        f"and training {settings.get('memory_steps')} steps (gradflow's figure with numba "
        "installed, as in make test's venv, and in brackets with GRADFLOW_NUMBA=0: numba and "
        "llvmlite take ~100 MiB; they come only with the cpu-fast extra). The NumPy per-op "
        "figure is forward "
        "only. Details per contender (IQR, page faults, load): bench/results/DETAILS.md."),
    ]
    disturbed = {name: data["results"]["disturbed_rounds"] for name, data in sections.items()
                 if data["results"].get("disturbed_rounds")}
    if disturbed:
        lines.append(
            f"Other processes took more than {settings.get('max_other_load')} of the CPUs during "
            "rounds that were kept after retries: " +
            ", ".join(f"{name} {count}" for name, count in disturbed.items()) +
            "; treat those figures with care."
        )
    presets = {data["results"].get("settings", {}).get("preset") for data in sections.values()}
    if "quick" in presets:
        lines.insert(0, "**Smoke-test run (`--quick`): tiny blocks and batches, one thread; "
                        "these numbers mean nothing.**")
    return lines


def _cuda_table(sections: Mapping[str, Any]) -> list[str]:
    present = [name for name in CUDA_SECTIONS if name in sections]
    if not present:
        return []
    lines = [
        "", "### GPU: gradflow on CuPy vs PyTorch CUDA (device-side timing with CUDA events)", "",
        "| measure | gradflow | PyTorch | gradflow / PyTorch |", "|---|---|---|---|",
    ]
    for name in present:
        results = sections[name]["results"]
        per_op = name == "cuda_overhead"
        ratios = round_ratios(results, suite.GRADFLOW, suite.TORCH)
        lines.append(
            f"| {results.get('title', name)} | {_time_cell(results, suite.GRADFLOW, per_op)} | "
            f"{_time_cell(results, suite.TORCH, per_op)} | {statistics.median(ratios):.2f}× |"
        )
    return lines


def render(sections: Mapping[str, Any]) -> str:
    """TABLE.md's text."""
    header = ["measure", *COLUMN_TITLES, "target", "gradflow measured", "verdict"]
    lines = ["### Speed and memory against PyTorch CPU and hand-written NumPy (`make bench`)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in ROWS:
        cells = _row_cells(row, sections)
        if cells is None:
            lines.append(f"| {row.title} | " + " | ".join(["–"] * len(COLUMNS)) + " | " +
                         ", ".join(target.label for target in row.targets)
                         + " | – | not measured |")
            continue
        lines += ["| " + " | ".join(cell) + " |" for cell in cells]
    lines.append("")
    if sections:
        lines += [f"- {line}" for line in _method_lines(sections) + _machine_lines(sections)]
    lines += _cuda_table(sections)
    return "\n".join(lines) + "\n"


def render_details(sections: Mapping[str, Any]) -> str:
    """DETAILS.md's text: ``markdown_table`` of every timed section, and the memory runs."""
    import memory

    lines = ["# Benchmark details", ""]
    for name, data in sections.items():
        results = data["results"]
        env = data["environment"]
        lines += [f"## {results.get('title', name)} (`{name}.json`)", ""]
        lines += [f"- {line}" for line in suite.environment_lines(env)]
        if "load_average" in results:
            load = results["load_average"]
            lines.append(
                f"- host load (1 min) before/after {load[0]:.2f}/{load[1]:.2f}; rounds redone "
                f"{results['rounds_retried']}, kept although disturbed "
                f"{results['disturbed_rounds']}"
            )
        if "sanity" in results:
            lines.append(f"- sanity check: {results['sanity']}")
        lines.append("")
        if "workloads" in results:
            lines.append(memory.memory_table(results))
        else:
            lines.append(markdown_table(results, baseline=suite.GRADFLOW))
            if name.startswith("epoch"):
                lines += ["", "(one step = one epoch)"]
        lines.append("")
    return "\n".join(lines)


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}-", suffix=".tmp", delete=False,
        encoding="utf-8",
    ) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def build(out_dir: str | os.PathLike[str] = suite.DEFAULT_OUT_DIR) -> Path:
    """Write ``TABLE.md`` and ``DETAILS.md`` in ``out_dir`` from its JSON files.

    Args:
        out_dir: results folder; a relative one is taken from the repository root.

    Returns:
        The path of TABLE.md.
    """
    directory = Path(out_dir)
    if not directory.is_absolute():
        directory = REPO_ROOT / directory
    directory.mkdir(parents=True, exist_ok=True)
    sections = load_sections(directory)
    table = directory / "TABLE.md"
    _write_atomically(table, render(sections))
    _write_atomically(directory / "DETAILS.md", render_details(sections))
    return table


def splice_readme(readme: str | os.PathLike[str], table_text: str) -> None:
    """Put ``table_text`` between the README's BENCH-TABLE markers (adding the end marker).

    Args:
        readme: path of README.md.
        table_text: what goes between the markers.

    Raises:
        ValueError: README has no ``<!-- BENCH-TABLE -->`` marker, or the end marker comes
            before it.
    """
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    start = text.find(BEGIN_MARKER)
    if start < 0:
        raise ValueError(f"{path}: no {BEGIN_MARKER} marker to put the table after")
    body_start = start + len(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if 0 <= end < start:
        raise ValueError(f"{path}: {END_MARKER} comes before {BEGIN_MARKER}")
    rest = text[end:] if end >= 0 else END_MARKER + text[body_start:]
    spliced = text[:body_start] + "\n" + table_text.strip("\n") + "\n" + rest
    _write_atomically(path, spliced)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=suite.DEFAULT_OUT_DIR)
    parser.add_argument("--readme", type=Path, help="also splice TABLE.md into this README")
    args = parser.parse_args()
    table = build(args.out_dir)
    print(table.read_text(encoding="utf-8"))
    if args.readme:
        splice_readme(args.readme, table.read_text(encoding="utf-8"))
        print(f"spliced into {args.readme}")


if __name__ == "__main__":
    main()
