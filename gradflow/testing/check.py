"""`gradflow check`: every registered op and the reference models, on each device, against
the CPU."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import gradflow as gf
from gradflow.testing import op_checks
from gradflow.testing.registry import load_all


@dataclass
class CheckRow:
    name: str
    device: str
    max_error: float
    ok: bool
    detail: str = ""


@dataclass
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # device -> why it could not run
    allow_missing: bool = False
    require_gpu: bool = False
    seconds: float = 0.0

    def _excused(self, device: str) -> bool:
        return self.allow_missing and not (self.require_gpu and device.startswith("cuda"))

    @property
    def ok(self) -> bool:
        """Every row passed, at least one row ran, and no device was missing (unless allowed;
        a CUDA device never is under require_gpu)."""
        if not self.rows:
            return False
        return all(r.ok for r in self.rows) and all(self._excused(d) for d in self.missing)

    def table(self) -> str:
        from gradflow.tables import render

        rows = [[r.name, r.device, f"{r.max_error:.2e}", "ok" if r.ok else f"FAIL: {r.detail}"]
                for r in self.rows]
        rows += [["(all)", device, "",
                  f"{'missing (allowed)' if self._excused(device) else 'FAIL: missing'}: {reason}"]
                 for device, reason in self.missing.items()]
        failed = [r for r in self.rows if not r.ok]
        summary = (f"{len(self.rows) - len(failed)} passed, {len(failed)} failed, "
                   f"{len(self.missing)} device(s) missing ({self.seconds:.1f}s)")
        if not self.rows:
            summary += "; nothing was checked, which is not a pass"
        return render(["op / model", "device", "max error", "status"], rows, right=(2,)) \
            + "\n" + summary

    def as_dict(self) -> dict:
        return {"ok": self.ok, "rows": [r.__dict__ for r in self.rows], "missing": self.missing,
                "allow_missing": self.allow_missing}


def _check_op(spec, device: str, dtype, has_float64: bool) -> CheckRow:
    worst = 0.0
    try:
        for sample in spec.samples():
            if "float64" in spec.tags and not has_float64:
                continue
            if not spec.nondeterministic:
                op_checks.check_forward(spec, sample, device, dtype)
                if device != "cpu":
                    worst = max(worst, op_checks.check_cross_device(spec, sample, device, dtype))
            if spec.differentiable and has_float64:
                op_checks.check_gradcheck(spec, sample, device)
    except Exception as exc:  # report, keep going: the table is the product
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckRow(spec.name, device, worst, False, f"{type(exc).__name__}: {message}")
    return CheckRow(spec.name, device, worst, True)


def _reference_batches(image_size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((8, 1, image_size, image_size)), rng.integers(0, 10, 8))
            for _ in range(3)]


def _check_models(devices, dtype) -> list[CheckRow]:
    from gradflow import models, nn, optim
    from gradflow.testing.compare import compare_training

    rows = []
    cases = {
        "model: mlp": (lambda: models.mlp(64, (32,), 10), 8),
        "model: cnn+batchnorm+dropout": (
            lambda: models.cnn(image_size=8, batch_norm=True, dropout=0.3, widths=(8, 16),
                               hidden=32), 8),
    }
    for name, (make, size) in cases.items():
        report = compare_training(make, _reference_batches(size), nn.CrossEntropyLoss(),
                                  lambda p: optim.SGD(p, lr=0.05, momentum=0.9), devices=devices,
                                  steps=5, dtype=dtype, clip_grad_norm=1.0)
        for device, steps in report.divergence.items():
            worst = max((max(s.values()) for s in steps if s), default=0.0)
            first = report.first_divergence[device]
            detail = "" if first is None else f"parts at step {first[0]} in {first[1]}"
            rows.append(CheckRow(name, device, worst, first is None, detail))
    return rows


def run_check(devices, dtype_name: str = "float32", allow_missing: bool = False,
              require_gpu: bool = False) -> CheckReport:
    """Check every registered op and the reference models on `devices` (cpu is the reference).

    `devices` is a list of names or a comma-separated string ("all": every available device).
    An unknown name raises UnknownDeviceError (a ConfigError); an unavailable device, or one
    without the dtype, makes the report fail unless `allow_missing`; a run that checked
    nothing never passes. `require_gpu` adds "cuda" when no CUDA device is listed and never
    excuses a missing one.
    """
    from gradflow.backends import get_backend
    from gradflow.testing.devices import parse_device_list, split_available

    started = time.perf_counter()
    dtype = gf.dtypes.by_name(dtype_name)
    if isinstance(devices, str):
        devices = parse_device_list(devices)
    if require_gpu and not any(d.startswith(("cuda", "gpu")) for d in devices):
        devices = [*devices, "cuda"]
    usable, missing = split_available(devices)
    report = CheckReport(missing=missing, allow_missing=allow_missing, require_gpu=require_gpu)
    for device in list(usable):
        if dtype not in get_backend(device).to_xp:
            report.missing[device] = f"no {dtype.name} on this device"
            usable.remove(device)
    for spec in load_all().values():
        for device in usable:
            has_float64 = gf.float64 in get_backend(device).to_xp
            report.rows.append(_check_op(spec, device, dtype, has_float64))
    if usable:
        report.rows += _check_models(usable if "cpu" in usable else ["cpu", *usable], dtype)
    report.seconds = time.perf_counter() - started
    return report
