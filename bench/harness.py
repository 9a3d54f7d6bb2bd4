"""Benchmark harness: interleaved, block-by-block timing of several contenders in one process.

The method is the one docs/benchmarking.md describes: every contender runs in the same process and
environment; rounds interleave the contenders, rotating which goes first; a pause between
contenders lets OpenBLAS worker threads spin down; ratios to a baseline are taken within each
round (absolute times drift on shared hosts, ratios do not); minor page faults are counted beside
the times, and so is the CPU share other processes took during each block.

Run benchmark scripts from the repository root, e.g. ``python bench/demo_harness.py``; modules in
``bench/`` import each other by plain name (``from harness import measure``).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostinfo import (
    RECORDED_ENV_VARS,
    REPO_ROOT,
    OtherCpuLoad,
    environment,
    peak_rss_mib,
    wait_for_quiet_host,
)

__all__ = [
    "RECORDED_ENV_VARS",
    "Contender",
    "environment",
    "format_seconds",
    "markdown_table",
    "measure",
    "peak_rss_mib",
    "round_ratios",
    "summarize",
    "wait_for_quiet_host",
    "write_results",
]


# Warm-up calibration: time doubling batches of calls until one batch takes this long.
_CALIBRATION_SECONDS = 0.05


@dataclass(frozen=True)
class Contender:
    """One thing to time.

    Args:
        name: label used in results and tables; unique within one ``measure`` call.
        setup: builds the state (model, data) and returns a zero-argument ``step`` callable
            that does one unit of work. Called once, before any timing.
        ops_per_step: how many elementary operations one step holds (e.g. 200 for a 200-op
            chain); results then also give the time per operation.

    Example:
        >>> c = Contender("noop", lambda: (lambda: None))
        >>> c.name
        'noop'
    """

    name: str
    setup: Callable[[], Callable[[], None]]
    ops_per_step: int = 1


@dataclass(frozen=True)
class _Block:
    seconds: float
    minor_faults: int
    # Times this process's threads were preempted: a sign that something else wanted the CPU.
    involuntary_switches: int
    cpu_seconds: float
    other_load: float


def _time_block(step: Callable[[], None], iterations: int) -> _Block:
    """Run ``step`` ``iterations`` times and say what it cost."""
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    other_load = OtherCpuLoad()
    cpu_before = time.process_time()
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    return _Block(
        seconds=elapsed,
        minor_faults=usage_after.ru_minflt - usage_before.ru_minflt,
        involuntary_switches=usage_after.ru_nivcsw - usage_before.ru_nivcsw,
        cpu_seconds=cpu,
        other_load=other_load.finish(),
    )


def _calibrate(step: Callable[[], None], target_block_seconds: float) -> int:
    """Iterations per block so that a block lasts about ``target_block_seconds``."""
    iterations = 1
    while True:
        elapsed = _time_block(step, iterations).seconds
        if elapsed >= _CALIBRATION_SECONDS or iterations >= 1 << 20:
            break
        iterations *= 2
    seconds_per_iteration = elapsed / iterations
    return max(1, round(target_block_seconds / max(seconds_per_iteration, 1e-9)))


def _rotated(items: Sequence[Any], start: int) -> list[Any]:
    start %= len(items)
    return list(items[start:]) + list(items[:start])


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max, quartiles, IQR and spread (``(max - min) / median`` in %) of values.

    Example:
        >>> summarize([1.0, 2.0, 3.0])["median"]
        2.0
    """
    median = statistics.median(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    low, high = min(values), max(values)
    return {
        "median": median,
        "min": low,
        "max": high,
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        # (max - min) / median, in percent.
        "spread_pct": 100.0 * (high - low) / median if median > 0 else float("nan"),
    }


def round_ratios(results: Mapping[str, Any], name: str, baseline: str) -> list[float]:
    """Per-round ratios ``time(name) / time(baseline)``, blocks of the same round paired.

    Args:
        results: the dict returned by ``measure``.
        name: contender whose time is the numerator.
        baseline: contender whose time is the denominator.

    Returns:
        One ratio per round; above 1 means ``name`` is slower than ``baseline``.

    Example:
        >>> r = measure([Contender("a", lambda: (lambda: None))], blocks=2, pause=0)
        >>> round_ratios(r, "a", "a")
        [1.0, 1.0]
    """
    contenders = results["contenders"]
    numerators = contenders[name]["block_seconds_per_iter"]
    denominators = contenders[baseline]["block_seconds_per_iter"]
    return [n / d for n, d in zip(numerators, denominators)]


def measure(
    contenders: Sequence[Contender],
    *,
    blocks: int = 7,
    iters_per_block: int | Mapping[str, int] | None = None,
    warmup: int = 3,
    pause: float = 0.3,
    target_block_seconds: float = 0.5,
    baseline: str | None = None,
    collect_garbage: bool = True,
    max_other_load: float | None = None,
    max_round_retries: int = 3,
    quiet_wait_seconds: float = 30.0,
) -> dict[str, Any]:
    """Time contenders interleaved in this process, block by block, rotating the order.

    Each round runs one block per contender; round ``r`` starts with contender ``r mod n``.
    Before each block: ``pause`` seconds of sleep (OpenBLAS threads spin for ~0.1 s after a
    call) and, if ``collect_garbage``, a ``gc.collect()`` outside the timed region, so one
    contender's garbage is not collected on another's clock.

    Args:
        contenders: what to time; names must be unique.
        blocks: timed blocks (= rounds) per contender; 5 or more for a median worth quoting.
        iters_per_block: step calls per block, one number for all or a mapping by name;
            ``None`` (or a name missing from the mapping) picks it from a warm-up timing so a
            block lasts about ``target_block_seconds``.
        warmup: untimed step calls per contender before calibration and timing.
        pause: seconds slept before each block (and between warm-ups).
        target_block_seconds: wanted block duration when iterations are picked automatically.
        baseline: name of the contender ratios are taken against; default the first one.
        collect_garbage: run ``gc.collect()`` before each block.
        max_other_load: if set, a round during which other processes used more than this
            share (0..1) of the host's CPUs in any block is run again, up to
            ``max_round_retries`` times, each after waiting (up to ``quiet_wait_seconds``)
            for the host to go quiet; the last attempt is kept and counted in
            ``disturbed_rounds``. Rounds are redone whole so per-round ratios stay paired.
            Worth setting on shared hosts: with one of two cores taken by another process,
            two-thread BLAS/OpenMP steps were seen to slow down 10-40x, not 2x.
        max_round_retries: see ``max_other_load``.
        quiet_wait_seconds: see ``max_other_load``.

    Returns:
        ``{"config": {...}, "baseline": name, "rounds": [[names in run order], ...],
        "contenders": {name: stats}}`` where stats holds ``iters_per_block``,
        ``ops_per_step``, ``block_seconds_per_iter`` (one per round, in round order),
        ``median_s``, ``min_s``, ``max_s``, ``q1_s``, ``q3_s``, ``iqr_s``, ``spread_pct``
        ((max - min) / median in %), ``median_s_per_op``, ``block_minflt_per_iter``,
        ``minflt_per_iter`` (median over blocks), ``block_involuntary_switches`` and
        ``block_cpu_per_wall`` (process CPU time / wall time), ``block_other_load`` (share
        of the host's CPUs used by other processes during the block),
        ``ratio_to_baseline`` (median of the per-round ratios: the robust number),
        ``ratio_min``, ``ratio_max`` and ``round_ratios``. ``load_average`` holds the host's
        1-minute load before and after the rounds; ``rounds_retried`` and
        ``disturbed_rounds`` count interference.

    Example:
        >>> r = measure([Contender("noop", lambda: (lambda: None))], blocks=3, pause=0)
        >>> r["contenders"]["noop"]["ratio_to_baseline"]
        1.0
    """
    if not contenders:
        raise ValueError("measure() needs at least one contender")
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise ValueError(f"contender names must be unique, got {names}")
    if blocks < 1:
        raise ValueError(f"blocks must be >= 1, got {blocks}")
    baseline = names[0] if baseline is None else baseline
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of {names}")

    steps = {c.name: c.setup() for c in contenders}

    iterations: dict[str, int] = {}
    for contender in contenders:
        step = steps[contender.name]
        time.sleep(pause)
        for _ in range(warmup):
            step()
        if isinstance(iters_per_block, int):
            iterations[contender.name] = iters_per_block
        elif isinstance(iters_per_block, Mapping) and contender.name in iters_per_block:
            iterations[contender.name] = int(iters_per_block[contender.name])
        else:
            iterations[contender.name] = _calibrate(step, target_block_seconds)

    kept: dict[str, list[_Block]] = {name: [] for name in names}
    rounds: list[list[str]] = []
    retries = 0
    disturbed_rounds = 0
    load_before = os.getloadavg()
    for round_index in range(blocks):
        order = _rotated(contenders, round_index)
        for attempt in range(max_round_retries + 1):
            round_blocks: dict[str, _Block] = {}
            for contender in order:
                time.sleep(pause)
                if collect_garbage:
                    gc.collect()
                round_blocks[contender.name] = _time_block(
                    steps[contender.name], iterations[contender.name]
                )
            worst = max(block.other_load for block in round_blocks.values())
            # NaN (no /proc/stat) never counts as disturbed.
            disturbed = max_other_load is not None and worst > max_other_load
            if not disturbed or attempt == max_round_retries:
                break
            retries += 1
            wait_for_quiet_host(max_other_load, window=0.5, timeout=quiet_wait_seconds)
        disturbed_rounds += disturbed
        rounds.append([c.name for c in order])
        for name, block in round_blocks.items():
            kept[name].append(block)

    results: dict[str, Any] = {
        "config": {
            "blocks": blocks,
            "warmup": warmup,
            "pause": pause,
            "target_block_seconds": target_block_seconds,
            "iters_per_block": (
                dict(iters_per_block) if isinstance(iters_per_block, Mapping) else iters_per_block
            ),
            "collect_garbage": collect_garbage,
            "max_other_load": max_other_load,
            "max_round_retries": max_round_retries,
            "quiet_wait_seconds": quiet_wait_seconds,
        },
        "baseline": baseline,
        "rounds": rounds,
        "rounds_retried": retries,
        # Rounds kept although another process used more than max_other_load of the CPUs.
        "disturbed_rounds": disturbed_rounds,
        # 1-minute load average before and after the timed rounds: other work on the host.
        "load_average": [load_before[0], os.getloadavg()[0]],
        "contenders": {},
    }
    for contender in contenders:
        name = contender.name
        n = iterations[name]
        seconds = [block.seconds / n for block in kept[name]]
        faults = [block.minor_faults / n for block in kept[name]]
        stats = summarize(seconds)
        results["contenders"][name] = {
            "iters_per_block": n,
            "ops_per_step": contender.ops_per_step,
            "block_seconds_per_iter": seconds,
            "median_s": stats["median"],
            "min_s": stats["min"],
            "max_s": stats["max"],
            "q1_s": stats["q1"],
            "q3_s": stats["q3"],
            "iqr_s": stats["iqr"],
            "spread_pct": stats["spread_pct"],
            "median_s_per_op": stats["median"] / contender.ops_per_step,
            "block_minflt_per_iter": faults,
            "minflt_per_iter": statistics.median(faults),
            "block_involuntary_switches": [block.involuntary_switches for block in kept[name]],
            "block_cpu_per_wall": [
                block.cpu_seconds / max(block.seconds, 1e-12) for block in kept[name]
            ],
            "block_other_load": [block.other_load for block in kept[name]],
        }
    for name in names:
        ratios = round_ratios(results, name, baseline)
        results["contenders"][name].update(
            ratio_to_baseline=statistics.median(ratios),
            ratio_min=min(ratios),
            ratio_max=max(ratios),
            round_ratios=ratios,
        )
    return results


def _json_default(value: Any) -> Any:
    # NumPy scalars and arrays that slip into results.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_results(
    name: str,
    results: Mapping[str, Any],
    env: Mapping[str, Any],
    out_dir: str | os.PathLike[str] = "bench/results",
) -> Path:
    """Write ``{"name", "environment", "results"}`` as JSON to ``out_dir/<name>.json``.

    The file is written to a temporary file in the same folder and renamed over the target,
    so readers never see half a file. A relative ``out_dir`` is taken from the repository
    root, not the current directory.

    Args:
        name: file stem; letters, digits, ``-``, ``_`` and ``.`` only.
        results: what ``measure`` returned (or any JSON-able mapping).
        env: what ``environment()`` returned.
        out_dir: destination folder, created if missing.

    Returns:
        Path of the written file.

    Example:
        >>> path = write_results("demo", {"contenders": {}}, environment(), out_dir="/tmp/r")
        >>> path.name
        'demo.json'
    """
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name.startswith("."):
        raise ValueError(f"bad results name {name!r}")
    directory = Path(out_dir)
    if not directory.is_absolute():
        directory = REPO_ROOT / directory
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.json"
    payload = {"name": name, "environment": dict(env), "results": dict(results)}
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=f".{name}-", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        try:
            json.dump(payload, handle, indent=2, default=_json_default)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    # NamedTemporaryFile creates 0600; results are ordinary files.
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, target)
    return target


def format_seconds(seconds: float) -> str:
    """Human-readable duration with three significant digits.

    Args:
        seconds: a duration.

    Returns:
        The duration in s, ms, µs or ns.

    Example:
        >>> format_seconds(0.00207)
        '2.07 ms'
    """
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def markdown_table(
    results: Mapping[str, Any],
    baseline: str | None = None,
    names: Sequence[str] | None = None,
) -> str:
    """Render ``measure`` results as a Markdown table.

    Args:
        results: what ``measure`` returned.
        baseline: contender the ratio column is relative to; default the one ``measure`` used.
            Ratios are recomputed per round, so any contender can serve.
        names: rows to show, in this order; default all, in measuring order.

    Returns:
        The table, one row per contender: median time per step (and per op where a step holds
        several), min, max, spread, IQR, per-round-median ratio with its range, and minor page
        faults per step.

    Example:
        >>> r = measure([Contender("noop", lambda: (lambda: None))], blocks=2, pause=0)
        >>> markdown_table(r).splitlines()[0].startswith("| contender")
        True
    """
    contenders = results["contenders"]
    baseline = results["baseline"] if baseline is None else baseline
    names = list(contenders) if names is None else list(names)
    show_per_op = any(contenders[name]["ops_per_step"] > 1 for name in names)
    header = ["contender", "median / step"]
    if show_per_op:
        header.append("median / op")
    header += ["min", "max", "spread", "IQR", f"× {baseline} (per round)", "minflt / step"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        stats = contenders[name]
        ratios = round_ratios(results, name, baseline)
        row = [name, format_seconds(stats["median_s"])]
        if show_per_op:
            per_op = stats["median_s"] / stats["ops_per_step"]
            row.append(format_seconds(per_op) if stats["ops_per_step"] > 1 else "")
        row += [
            format_seconds(stats["min_s"]),
            format_seconds(stats["max_s"]),
            f"{stats['spread_pct']:.1f}%",
            format_seconds(stats["iqr_s"]),
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})",
            f"{stats['minflt_per_iter']:.1f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


