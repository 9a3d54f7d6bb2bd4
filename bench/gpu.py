"""GPU benchmark (``run.py --device cuda``): gradflow on CuPy vs PyTorch CUDA.

UNTESTED: written and checked only on machines without a GPU (the guard, the import paths and
the results format are tested; the timing loop has never run on a device). Treat the first
GPU run as a test of this file.

Per-op chain and the MLP/CNN training steps of ``overhead.py`` and ``steps.py``, float32, with
the same interleaved rounds as on the CPU. Each block is timed on the device: a CUDA event is
recorded before and after ``iters`` steps on the default stream (each library's own events),
and the block's time is the elapsed time between them after synchronising. Results have the
same format as ``harness.measure``'s, so the same tables render them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import reference_torch
import steps
import suite
from harness import round_ratios, summarize
from overhead import gradflow_chain_factory

DEVICE = "cuda"


def unavailable_reason() -> str:
    """Why the GPU benchmark cannot run here ("" when it can)."""
    import gradflow.cuda

    if not gradflow.cuda.is_available():
        return f"gradflow: {gradflow.cuda.why_unavailable() or 'no CUDA GPU'}"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return "PyTorch has no CUDA (a CPU-only build?)"
    return ""


@dataclass(frozen=True)
class GpuContender:
    """A contender whose blocks are timed with its library's CUDA events."""

    name: str
    setup: Callable[[], Callable[[], Any]]
    library: str  # "cupy" (gradflow) or "torch"
    ops_per_step: int = 1


def _timer(library: str) -> Callable[[Callable[[], Any], int], float]:
    """``time_block(step, iters)`` -> seconds between events around ``iters`` steps."""
    if library == "cupy":
        import cupy

        def time_block(step: Callable[[], Any], iters: int) -> float:
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            for _ in range(iters):
                step()
            end.record()
            end.synchronize()
            return cupy.cuda.get_elapsed_time(start, end) / 1e3

        return time_block
    import torch

    def time_block(step: Callable[[], Any], iters: int) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3

    return time_block


def measure_cuda(contenders: Sequence[GpuContender], settings: suite.Settings) -> dict[str, Any]:
    """Interleaved, rotated rounds of device-timed blocks; ``harness.measure``'s format."""
    prepared = {}
    for contender in contenders:
        step, time_block = contender.setup(), _timer(contender.library)
        for _ in range(settings.warmup):
            step()
        one = max(time_block(step, 1), 1e-6)
        iters = max(1, round(settings.target_block_seconds / one))
        prepared[contender.name] = (step, time_block, iters)
    names = [contender.name for contender in contenders]
    seconds: dict[str, list[float]] = {name: [] for name in names}
    rounds = []
    for round_index in range(settings.blocks):
        order = names[round_index % len(names):] + names[: round_index % len(names)]
        for name in order:
            time.sleep(settings.pause)
            step, time_block, iters = prepared[name]
            seconds[name].append(time_block(step, iters) / iters)
        rounds.append(order)
    results: dict[str, Any] = {
        "timing": "CUDA events around each block (device time)",
        "baseline": names[0],
        "rounds": rounds,
        "contenders": {},
    }
    for contender in contenders:
        values = seconds[contender.name]
        stats = summarize(values)
        results["contenders"][contender.name] = {
            "iters_per_block": prepared[contender.name][2],
            "ops_per_step": contender.ops_per_step,
            "block_seconds_per_iter": values,
            "median_s": stats["median"], "min_s": stats["min"], "max_s": stats["max"],
            "q1_s": stats["q1"], "q3_s": stats["q3"], "iqr_s": stats["iqr"],
            "spread_pct": stats["spread_pct"],
            "median_s_per_op": stats["median"] / contender.ops_per_step,
            "minflt_per_iter": float("nan"),
        }
    for name in names:
        ratios = round_ratios(results, name, names[0])
        results["contenders"][name].update(
            ratio_to_baseline=statistics.median(ratios), round_ratios=ratios
        )
    return results


def _groups(settings: suite.Settings) -> dict[str, tuple[str, list[GpuContender]]]:
    chain = reference_torch.CHAIN_OPS
    groups = {
        "cuda_overhead": (f"GPU per-op overhead, {chain}-op chain", [
            GpuContender(suite.GRADFLOW, lambda: gradflow_chain_factory(device=DEVICE), "cupy",
                         chain),
            GpuContender(suite.TORCH, lambda: reference_torch.chain_factory(device=DEVICE),
                         "torch", chain),
        ]),
    }
    for model in steps.MODELS:
        batch = settings.batches[model]
        group = [
            GpuContender(suite.GRADFLOW, lambda m=model, b=batch: steps.gradflow_step_factory(
                m, b, device=DEVICE), "cupy"),
            GpuContender(suite.TORCH, lambda m=model, b=batch: steps.torch_step_factory(
                m, b, device=DEVICE), "torch"),
        ]
        if model == "cnn":
            group.append(GpuContender(
                suite.TORCH_CHANNELS_LAST,
                lambda b=batch: steps.torch_step_factory("cnn", b, True, device=DEVICE), "torch"))
        groups[f"cuda_steps_{model}"] = (f"GPU {steps.TITLES[model]}", group)
    return groups


def run(settings: suite.Settings) -> dict[str, dict[str, Any]]:
    """Time everything on the GPU; save ``cuda_*.json``; return the results.

    Raises:
        RuntimeError: no usable GPU for gradflow and PyTorch (see ``unavailable_reason``).
    """
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(f"--device cuda: {reason}")
    # gradflow's generator gives the same weights and batch on every device: same first loss.
    losses = {
        device: float(steps.gradflow_step_factory("mlp", 8, device=device)().item())
        for device in ("cpu", DEVICE)
    }
    if abs(losses[DEVICE] - losses["cpu"]) > 1e-4 * abs(losses["cpu"]):
        raise steps.SanityError(f"gradflow's MLP loss differs between devices: {losses}")
    sections = {}
    for section, (title, contenders) in _groups(settings).items():
        results = measure_cuda(contenders, settings)
        results["sanity"] = {"first_mlp_loss_by_device": losses}
        suite.save_section(section, title + " (UNTESTED timing code)", results, settings)
        sections[section] = results
    return sections
