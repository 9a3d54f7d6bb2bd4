"""compare_devices and compare_training: run the same work on several devices and report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import gradflow as gf
from gradflow.testing.assertions import DEFAULT_TOLERANCES, to_numpy


@dataclass
class Comparison:
    """One compared quantity on one device against the reference device."""

    name: str
    device: str
    max_abs: float
    max_rel: float
    ok: bool
    detail: str = ""


@dataclass
class DeviceReport:
    """The result of compare_devices: one row per output and input gradient per device."""

    reference: str
    rows: list[Comparison] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def table(self) -> str:
        lines = [f"{'quantity':<28} {'device':<18} {'max abs err':>12} {'max rel err':>12}  status",
                 "-" * 82]
        for r in self.rows:
            status = "ok" if r.ok else "FAIL " + r.detail
            lines.append(f"{r.name:<28} {r.device:<18} {r.max_abs:>12.3g} {r.max_rel:>12.3g}  "
                         f"{status}")
        for device, reason in self.unavailable.items():
            lines.append(f"{'(all)':<28} {device:<18} {'':>12} {'':>12}  missing: {reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def as_dict(self) -> dict:
        return {"reference": self.reference, "ok": self.ok,
                "rows": [r.__dict__ for r in self.rows], "unavailable": self.unavailable}

    def raise_if_failed(self) -> None:
        """Raise AssertionError with the table when any quantity differs beyond tolerance."""
        if not self.ok:
            raise AssertionError("devices disagree:\n" + self.table())


def _errors(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    if actual.size == 0:
        return 0.0, 0.0
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    diff = np.abs(a - e)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(np.abs(e) > 0, diff / np.abs(e), np.where(diff > 0, np.inf, 0.0))
    return float(np.nanmax(diff)), float(np.nanmax(rel))


def _compare_arrays(name, device, actual, expected, rtol, atol) -> Comparison:
    if actual.shape != expected.shape:
        return Comparison(name, device, float("inf"), float("inf"), False,
                          f"shape {actual.shape} vs {expected.shape}")
    max_abs, max_rel = _errors(actual, expected)
    if rtol is None:
        rtol, atol_default = DEFAULT_TOLERANCES.get(expected.dtype.name, (0.0, 0.0))
        atol = atol_default if atol is None else atol
    atol = 0.0 if atol is None else atol
    if actual.dtype.kind == "f":
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        with np.errstate(invalid="ignore"):
            close = (np.abs(a - e) <= atol + rtol * np.abs(e)) | (np.isnan(a) & np.isnan(e))
        ok = bool(close.all())
    else:
        ok = bool(np.array_equal(actual, expected))
    return Comparison(name, device, max_abs, max_rel, ok)


def _available(devices, allow_missing: bool, where: str):
    """The usable devices and {missing: reason}; an unknown name always raises, an unavailable
    one raises unless `allow_missing` (a comparison that silently drops a device checks less
    than it says)."""
    from gradflow.errors import BackendUnavailableError
    from gradflow.testing.devices import UnknownDeviceError, split_available

    try:
        usable, missing = split_available(devices)
    except UnknownDeviceError as exc:
        raise UnknownDeviceError(f"{where}: {exc}") from None
    if missing and not allow_missing:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
        raise BackendUnavailableError(f"{where}: device(s) not available here ({reasons}); pass "
                                      "allow_missing=True to compare the others")
    if not usable:
        raise BackendUnavailableError(f"{where}: none of the devices {list(devices)} is "
                                      "available, so nothing would be compared")
    return usable, missing


def _host_inputs(inputs) -> list:
    hosts = []
    for position, value in enumerate(inputs):
        if isinstance(value, gf.Tensor):
            hosts.append(value.numpy())
        elif isinstance(value, np.ndarray):
            hosts.append(value)
        elif isinstance(value, (int, float, bool)):
            hosts.append(value)
        else:
            raise TypeError(f"compare_devices: input {position} is a {type(value).__name__}; give "
                            "tensors, NumPy arrays or Python numbers")
    return hosts


def _flatten_outputs(result, where: str) -> list[tuple[str, gf.Tensor]]:
    if isinstance(result, gf.Tensor):
        return [("output", result)]
    if isinstance(result, (tuple, list)):
        return [(f"output[{i}]", t) for i, t in enumerate(result) if isinstance(t, gf.Tensor)]
    if isinstance(result, dict):
        return [(f"output[{k!r}]", t) for k, t in result.items() if isinstance(t, gf.Tensor)]
    raise TypeError(f"{where}: fn returned a {type(result).__name__}; return tensors")


def compare_devices(fn, *inputs, devices=("cpu", "strict:device1"), grads: bool = True,
                    dtype=None, rtol: float | None = None, atol: float | None = None,
                    allow_missing: bool = False, seed: int = 0) -> DeviceReport:
    """Run `fn` on copies of the inputs on each device; compare outputs and input gradients.

    The first available device is the reference. Float inputs get requires_grad when
    `grads` is true; the gradient is of sum(output * r) for a fixed random r. gradflow's
    generator is seeded with `seed` before each device's run, so dropout masks and other
    random draws are the same on every device.

    Args:
        fn: a function of tensors returning a tensor, or a tuple/list/dict of tensors; or a
            Module, whose parameters' gradients are then compared too (same weights everywhere).
        inputs: tensors, NumPy arrays or numbers (numbers are passed unchanged).
        devices: device names; an unknown name raises UnknownDeviceError, an unavailable
            one BackendUnavailableError (unless `allow_missing`).
        grads: compare input gradients too.
        dtype: cast float inputs to this dtype (e.g. gf.float64 to separate bugs from rounding).
        rtol, atol: tolerances (default: by dtype).
        allow_missing: list unavailable devices in the report instead of raising.
        seed: the seed of gradflow's generator on every device (and of the cotangents).

    Returns:
        A DeviceReport: `.ok`, `.table()`, `.raise_if_failed()`.

    Example:
        >>> report = compare_devices(lambda x: x.tanh().sum(), gf.randn(4, 3))
        >>> report.raise_if_failed()
    """
    from gradflow.nn.module import Module

    usable, missing = _available(devices, allow_missing, "compare_devices")
    hosts = _host_inputs(inputs)
    module = fn if isinstance(fn, Module) else None
    if module is not None:
        home = next((p.device for p in module.parameters()), "cpu")
        state = {k: v.numpy() for k, v in module.state_dict().items()}
    results = {}
    for device in usable:
        if module is not None:  # the same weights on every device, gradients compared by name
            module.to(device)
            module.load_state_dict(state)
            module.zero_grad(set_to_none=True)
        gf.manual_seed(seed)  # the same dropout masks and random draws on every device
        tensors = []
        for value in hosts:
            if isinstance(value, np.ndarray):
                float_input = value.dtype.kind == "f"
                cast_to = dtype if (dtype is not None and float_input) else None
                tensors.append(gf.tensor(value, device=device, dtype=cast_to,
                                         requires_grad=grads and float_input))
            else:
                tensors.append(value)
        outputs = _flatten_outputs(fn(*tensors), "compare_devices")
        values = {name: t.numpy() for name, t in outputs}
        if grads:
            rng = np.random.default_rng(seed)
            loss = None
            for _, t in outputs:
                if t.requires_grad:
                    weight = gf.tensor(rng.standard_normal(t.shape), dtype=t.dtype, device=device)
                    term = (t * weight).sum()
                    loss = term if loss is None else loss + term
            if loss is not None:
                loss.backward()
            for position, t in enumerate(tensors):
                if isinstance(t, gf.Tensor) and t.grad is not None:
                    values[f"grad of input {position}"] = t.grad.numpy()
            if module is not None:
                for name, p in module.named_parameters():
                    if p.grad is not None:
                        values[f"grad of {name}"] = p.grad.numpy()
        results[device] = values
    if module is not None:
        module.to(home)
        module.load_state_dict(state)
    report = DeviceReport(reference=usable[0], unavailable=missing)
    expected = results[usable[0]]
    for device in usable[1:]:
        for name, reference in expected.items():
            actual = results[device].get(name)
            if actual is None:
                report.rows.append(Comparison(name, device, float("inf"), float("inf"), False,
                                              "missing"))
                continue
            report.rows.append(_compare_arrays(name, device, actual, reference, rtol, atol))
    return report


@dataclass
class TrainingReport:
    """compare_training's result: losses per step per device, parameter divergence per step."""

    reference: str
    losses: dict[str, list[float]]
    divergence: dict[str, list[dict[str, float]]]  # device -> per step -> param -> max rel err
    tolerance: float
    first_divergence: dict[str, tuple[int, str, float] | None]
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v is None for v in self.first_divergence.values())

    def table(self) -> str:
        lines = [f"reference device: {self.reference}; tolerance {self.tolerance:g} (relative)"]
        for device, steps in self.divergence.items():
            worst = max((max(step.values()) for step in steps if step), default=0.0)
            first = self.first_divergence[device]
            where = "agrees at every step" if first is None else (
                f"parts at step {first[0]}, parameter {first[1]!r} (rel err {first[2]:.3g})")
            lines.append(f"{device:<18} max rel divergence {worst:.3g}; {where}; final loss "
                         f"{self.losses[device][-1]:.6g} vs {self.losses[self.reference][-1]:.6g}")
        for device, reason in self.unavailable.items():
            lines.append(f"{device:<18} missing: {reason}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.ok:
            raise AssertionError("training runs diverge:\n" + self.table())


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-30)
    return float(np.max(np.abs(a.astype(np.float64) - b))) / scale if a.size else 0.0


def compare_training(make_model, batches, loss_fn, make_optimizer,
                     devices=("cpu", "strict:device1"),
                     steps: int = 10, dtype=gf.float32, seed: int = 0,
                     clip_grad_norm: float | None = None, tolerance: float | None = None,
                     allow_missing: bool = False) -> TrainingReport:
    """Train identical copies on each device and report where (if anywhere) they part.

    Each run seeds gradflow's generator with `seed` before building the model, so
    initial weights, dropout masks and shuffles are the same random streams on every
    device. Parameters are compared after every step, relative to the reference device's
    largest magnitude for that parameter.

    Args:
        make_model: () -> Module (built on the cpu, then moved).
        batches: a list of (inputs, labels) pairs of NumPy arrays or tensors, used in turn.
        loss_fn: (outputs, labels) -> loss.
        make_optimizer: parameters -> Optimizer.
        devices: device names; the first available one is the reference.
        steps: training steps.
        dtype: gf.float32, or gf.float64 to tell a real bug from rounding.
        clip_grad_norm: clip the global gradient norm before each step.
        tolerance: allowed relative divergence (default 1e-4 in float32, 1e-10 in float64).
        allow_missing: list unavailable devices in the report instead of raising
            BackendUnavailableError (an unknown device name always raises).

    Returns:
        A TrainingReport (`.ok`, `.table()`, `.raise_if_failed()`, `.first_divergence`).

    Example:
        >>> report = compare_training(lambda: nn.Linear(4, 2), [(x, y)], nn.CrossEntropyLoss(),
        ...                           lambda p: gf.optim.SGD(p, lr=0.1), steps=5)
    """
    from gradflow.nn.utils import clip_grad_norm_

    usable, missing = _available(devices, allow_missing, "compare_training")
    if tolerance is None:
        tolerance = 1e-10 if dtype is gf.float64 else 1e-4
    host_batches = [tuple(to_numpy(part) for part in batch) for batch in batches]
    if not host_batches:
        raise ValueError("compare_training: batches is empty")
    losses: dict[str, list[float]] = {}
    trajectories: dict[str, list[dict[str, np.ndarray]]] = {}
    for device in usable:
        gf.manual_seed(seed)
        model = make_model().to(device).to(dtype)
        optimizer = make_optimizer(model.parameters())
        losses[device], trajectories[device] = [], []
        for step in range(steps):
            inputs, labels = host_batches[step % len(host_batches)]
            x = gf.tensor(inputs, device=device, dtype=dtype if inputs.dtype.kind == "f" else None)
            y = gf.tensor(labels, device=device,
                          dtype=dtype if labels.dtype.kind == "f" else None)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            if clip_grad_norm is not None:
                clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimizer.step()
            losses[device].append(float(loss.item()))
            trajectories[device].append({n: p.numpy() for n, p in model.named_parameters()})
    reference = usable[0]
    divergence, first = {}, {}
    for device in usable[1:]:
        divergence[device], first[device] = [], None
        for step, (here, there) in enumerate(zip(trajectories[device], trajectories[reference])):
            row = {name: _max_rel(here[name], there[name]) for name in there}
            divergence[device].append(row)
            if first[device] is None:
                for name, value in row.items():
                    if not value <= tolerance:
                        first[device] = (step, name, value)
                        break
    return TrainingReport(reference, losses, divergence, tolerance, first, missing)
