"""Learning-rate schedulers, each giving the same lr sequence as its PyTorch namesake.

Call `scheduler.step()` once per epoch (OneCycleLR: once per batch) after
`optimizer.step()`. Schedulers other than OneCycleLR and ReduceLROnPlateau
update each group's current lr multiplicatively, so two of them can be chained
on one optimizer.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter

from gradflow.errors import ConfigError, StateDictError
from gradflow.optim.optimizer import Optimizer


def _number(owner: str, option: str, value, low: float | None = None, high: float | None = None,
             low_open: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
        raise ConfigError(f"{owner}: invalid {option}={value!r}; expected a number in {bounds}")
    return float(value)


def _count(owner: str, option: str, value, low: int = 1) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{owner}: invalid {option}={value!r}; expected an integer >= {low}")
    return int(value)


def _per_group(owner: str, option: str, value, optimizer: Optimizer, **bounds) -> list[float]:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ConfigError(f"{owner}: {option} has {len(value)} values for {n} param groups")
        return [_number(owner, option, v, **bounds) for v in value]
    return [_number(owner, option, value, **bounds)] * n


def _kind_problem(now, new) -> str | None:
    """Why `new` cannot stand where `now` is in a scheduler's state, or None."""
    if isinstance(now, bool):
        ok, kind = isinstance(new, bool), "a bool"
    elif isinstance(now, numbers.Integral):
        ok, kind = isinstance(new, numbers.Integral) and not isinstance(new, bool), "an int"
    elif isinstance(now, numbers.Real):
        ok = isinstance(new, numbers.Real) and not isinstance(new, bool) and not (
            isinstance(new, float) and math.isnan(new) and not math.isnan(now))
        kind = "a number"
    elif isinstance(now, str):
        ok, kind = isinstance(new, str), "a str"
    elif isinstance(now, (list, tuple)):
        if not isinstance(new, (list, tuple)) or len(new) != len(now):
            return f"expected a list of {len(now)}, got {new!r}"
        for a, b in zip(now, new):
            problem = _kind_problem(a, b)
            if problem is not None:
                return f"in {new!r}: {problem}"
        return None
    elif isinstance(now, dict):
        ok, kind = isinstance(new, dict), "a dict"
    else:
        return None
    return None if ok else f"expected {kind}, got {new!r}"


class _StateMixin:
    def state_dict(self) -> dict:
        """Every attribute except the optimizer, for `load_state_dict`."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore `state_dict()`; raises StateDictError (changing nothing) on a malformed one."""
        problem = self.state_dict_problem(state_dict)
        if problem is not None:
            raise StateDictError(f"{type(self).__name__}.load_state_dict: state_dict"
                                 f"{problem[0]}: {problem[1]}")
        self.__dict__.update(state_dict)

    def state_dict_problem(self, state_dict) -> tuple[str, str] | None:
        """The first field of state_dict unlike this scheduler's own, as (field, problem).

        Every key must be one of state_dict()'s and each value of the same kind as the
        current one (int, number, bool, str, list of the same length...); last_epoch >= -1.
        None when the state fits.

        Example:
            >>> StepLR(opt, 5).state_dict_problem({"last_epoch": "x"})
            ("['last_epoch']", "expected an int, got 'x'")
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            return "", f"expected a dict, got {type(state_dict).__name__}"
        current = self.state_dict()
        unknown = sorted(map(str, set(state_dict) - set(current)))
        if unknown:
            return f"[{unknown[0]!r}]", f"unknown key(s) {unknown} for {name}"
        for key, value in state_dict.items():
            problem = _kind_problem(current[key], value)
            if problem is None and key == "last_epoch" and value < -1:
                problem = f"expected an int >= -1, got {value!r}"
            if problem is not None:
                return f"[{key!r}]", problem
        return None

    def get_last_lr(self) -> list[float]:
        """The lr of each param group as of the last step."""
        return list(self._last_lr)


class LRScheduler(_StateMixin):
    """Base class: `step()` advances `last_epoch` and writes `get_lr()` into the groups.

    Args:
        optimizer: the optimizer whose groups' "lr" it sets.
        last_epoch: the index of the last epoch when resuming (-1 to start).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"{name}: expected a gradflow Optimizer, got "
                              f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ConfigError(f"{name}: resuming at last_epoch={last_epoch} needs "
                                  "'initial_lr' in every param group")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The lr of each group for epoch `last_epoch`, from the current ones."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or batch) and update each group's lr."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the lr by `gamma` every `step_size` epochs.

    Args:
        optimizer: the optimizer.
        step_size: epochs between two cuts.
        gamma: the factor of each cut.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = StepLR(opt, step_size=30, gamma=0.1)   # 0.1, ..., 0.01 from epoch 30
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _count("StepLR", "step_size", step_size)
        self.gamma = _number("StepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class MultiStepLR(LRScheduler):
    """Multiply the lr by `gamma` at each milestone epoch.

    Args:
        optimizer: the optimizer.
        milestones: epoch indices (a repeated one cuts that many times).
        gamma: the factor of each cut.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = Counter(_count("MultiStepLR", "milestones", m, 0) for m in milestones)
        self.gamma = _number("MultiStepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        times = self.milestones.get(self.last_epoch, 0)
        if not times:
            return self._current()
        return [lr * self.gamma**times for lr in self._current()]


class ExponentialLR(LRScheduler):
    """Multiply the lr by `gamma` every epoch.

    Args:
        optimizer: the optimizer.
        gamma: the factor per epoch.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _number("ExponentialLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from its initial value to `eta_min` along a half cosine of `T_max` epochs.

    Past T_max it rises again (a cosine of period 2 T_max), as in PyTorch.

    Args:
        optimizer: the optimizer.
        T_max: epochs from the initial lr down to eta_min.
        eta_min: the lowest lr.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = CosineAnnealingLR(opt, T_max=100, eta_min=1e-5)
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _count("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _number("CosineAnnealingLR", "eta_min", eta_min, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, period, low = self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return self._current()
        if self._step_count == 1:  # resumed: the closed form
            return [low + (base - low) * (1 + math.cos(math.pi * t / period)) / 2
                    for base in self.base_lrs]
        if (t - 1 - period) % (2 * period) == 0:  # NOTE: the ratio below would be 0/0 here
            rise = (1 - math.cos(math.pi / period)) / 2
            return [lr + (base - low) * rise for lr, base in zip(self._current(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [low + (lr - low) * ratio for lr in self._current()]


class LinearLR(LRScheduler):
    """Scale the lr linearly from `start_factor` to `end_factor` over `total_iters` epochs.

    Args:
        optimizer: the optimizer.
        start_factor: multiplier of the initial lr at epoch 0, in (0, 1].
        end_factor: multiplier reached at `total_iters` and kept after, in [0, 1].
        total_iters: epochs of the ramp.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = LinearLR(opt, start_factor=0.1, total_iters=5)   # a 5-epoch warm-up
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = _number("LinearLR", "start_factor", start_factor, 0.0, 1.0,
                                    low_open=True)
        self.end_factor = _number("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = _count("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, start, end = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return [lr * start for lr in self._current()]
        if t > self.total_iters:
            return self._current()
        factor = 1 + (end - start) / (self.total_iters * start + (t - 1) * (end - start))
        return [lr * factor for lr in self._current()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm the lr up to `max_lr`, then anneal far below the start.

    The lr goes from max_lr / div_factor to max_lr over the first pct_start of the
    steps, then down to max_lr / (div_factor * final_div_factor); with three_phase it
    first returns to the start value and only then falls. Momentum (or Adam's beta1)
    cycles the opposite way between max_momentum and base_momentum. Step it once per
    batch, `total_steps` times in all.

    Args:
        optimizer: the optimizer.
        max_lr: peak lr, one for all groups or one per group.
        total_steps: number of steps; or give `epochs` and `steps_per_epoch`.
        pct_start: fraction of the steps spent warming up.
        anneal_strategy: "cos" or "linear".
        cycle_momentum: cycle the momentum / beta1 too.
        base_momentum, max_momentum: the momentum range (per group or one value).
        div_factor: initial lr = max_lr / div_factor.
        final_div_factor: final lr = initial lr / final_div_factor.
        three_phase: warm up, cool down symmetrically, then anneal to the final lr.

    Example:
        >>> sched = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        name = "OneCycleLR"
        if total_steps is not None:
            self.total_steps = _count(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_count(name, "epochs", epochs)
                                * _count(name, "steps_per_epoch", steps_per_epoch))
        else:
            raise ConfigError(f"{name}: give total_steps, or epochs and steps_per_epoch")
        pct = _number(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ConfigError(f"{name}: anneal_strategy must be 'cos' or 'linear', "
                              f"not {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ConfigError(f"{name}: cycle_momentum=True, but {type(optimizer).__name__} "
                              "has no momentum or betas; pass cycle_momentum=False")
        up = pct * self.total_steps - 1
        if three_phase:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (2 * up, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                           (self.total_steps - 1.0, "initial_lr", "min_lr", "max_momentum",
                            "max_momentum")]
        else:
            self.phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (self.total_steps - 1.0, "max_lr", "min_lr", "base_momentum",
                            "max_momentum")]
        if last_epoch == -1:
            div = _number(name, "div_factor", div_factor, 0.0, low_open=True)
            final_div = _number(name, "final_div_factor", final_div_factor, 0.0, low_open=True)
            peaks = _per_group(name, "max_lr", max_lr, optimizer, low=0.0)
            for group, peak in zip(optimizer.param_groups, peaks):
                group["initial_lr"] = peak / div
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div
            if self.cycle_momentum:
                highs = _per_group(name, "max_momentum", max_momentum, optimizer, low=0.0)
                lows = _per_group(name, "base_momentum", base_momentum, optimizer, low=0.0)
                for group, high, low in zip(optimizer.param_groups, highs, lows):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise ConfigError(f"OneCycleLR: stepped {t} times, but total_steps is "
                              f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for number, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if t <= end or number == len(self.phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to], pct))
                    break
                start = end
        return lrs


class ReduceLROnPlateau(_StateMixin):
    """Cut the lr by `factor` when a metric has stopped improving for `patience` epochs.

    Args:
        optimizer: the optimizer.
        mode: "min" (the metric should fall, e.g. a loss) or "max" (e.g. an accuracy).
        factor: new lr = lr * factor, in [0, 1).
        patience: epochs without improvement tolerated before a cut.
        threshold: the least change that counts as an improvement.
        threshold_mode: "rel" (relative to the best) or "abs".
        cooldown: epochs to wait after a cut before counting again.
        min_lr: floor of the lr, one for all groups or one per group.
        eps: cuts smaller than this are skipped.

    Example:
        >>> sched = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3)
        >>> sched.step(val_loss)   # once per epoch
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr=0.0, eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"{name}: expected a gradflow Optimizer")
        if mode not in ("min", "max"):
            raise ConfigError(f"{name}: mode must be 'min' or 'max', not {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ConfigError(f"{name}: threshold_mode must be 'rel' or 'abs', "
                              f"not {threshold_mode!r}")
        self.factor = _number(name, "factor", factor, 0.0)
        if self.factor >= 1.0:
            raise ConfigError(f"{name}: factor must be < 1, got {factor!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience = _count(name, "patience", patience, 0)
        self.threshold = _number(name, "threshold", threshold, 0.0)
        self.cooldown = _count(name, "cooldown", cooldown, 0)
        self.min_lrs = _per_group(name, "min_lr", min_lr, optimizer, low=0.0)
        self.eps = _number(name, "eps", eps, 0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, value: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return value < (best * (1 - th) if self.threshold_mode == "rel" else best - th)
        return value > (best * (1 + th) if self.threshold_mode == "rel" else best + th)

    def step(self, metrics) -> None:
        """Record this epoch's metric (a number or a one-element tensor); maybe cut the lr."""
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "MultiStepLR",
           "OneCycleLR", "ReduceLROnPlateau", "StepLR"]
