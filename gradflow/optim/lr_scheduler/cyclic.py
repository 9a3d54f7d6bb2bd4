"""Schedules that cycle or run once per batch: OneCycleLR, CyclicLR and cosine annealing
with warm restarts."""

from __future__ import annotations

import math
import types
from collections.abc import Callable

from gradflow.errors import ConfigError
from gradflow.optim.lr_scheduler.base import LRScheduler, _count, _number, _per_group
from gradflow.optim.optimizer import Optimizer


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


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing from the initial lr to eta_min, restarting every T_i epochs (SGDR).

    The first period is T_0 epochs, each next one T_mult times longer. `step(epoch)` also
    takes a fractional epoch (e.g. epoch + batch / batches) to anneal within an epoch.

    Args:
        optimizer: the optimizer.
        T_0: epochs of the first period.
        T_mult: growth factor of the period (an int >= 1).
        eta_min: the lowest lr.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2)
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = self.T_i = _count(name, "T_0", T_0)
        self.T_mult = _count(name, "T_mult", T_mult)
        self.eta_min = _number(name, "eta_min", eta_min, 0.0)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to `epoch` (fractional allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur %= self.T_i
                self.T_i *= self.T_mult
        else:
            _number("CosineAnnealingWarmRestarts", "epoch", epoch, 0.0)  # int stays int
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class CyclicLR(LRScheduler):
    """Cycle the lr between base_lr and max_lr (triangular, triangular2 or exp_range).

    Step it once per batch. Momentum (or Adam's beta1) cycles the opposite way between
    max_momentum and base_momentum unless cycle_momentum=False.

    Args:
        optimizer: the optimizer.
        base_lr, max_lr: the lr range, one value or one per group.
        step_size_up: steps from base_lr up to max_lr.
        step_size_down: steps back down (default: step_size_up).
        mode: "triangular", "triangular2" (the amplitude halves each cycle) or "exp_range"
            (it shrinks by gamma ** step).
        gamma: the exp_range factor.
        scale_fn: your own amplitude function of the cycle (or step) instead of mode.
        scale_mode: "cycle" or "iterations": what scale_fn is given.
        cycle_momentum, base_momentum, max_momentum: the momentum cycle.
        last_epoch: the last step's index when resuming (-1 to start).

    Example:
        >>> sched = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=500)
    """

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9,
                 last_epoch: int = -1):
        name = "CyclicLR"
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(f"{name}: expected a gradflow Optimizer, got "
                              f"{type(optimizer).__name__}")
        base_lrs = _per_group(name, "base_lr", base_lr, optimizer, low=0.0)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group(name, "max_lr", max_lr, optimizer, low=0.0)
        up = float(_count(name, "step_size_up", step_size_up))
        down = float(_count(name, "step_size_down", step_size_down)) \
            if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ConfigError(f"{name}: mode must be 'triangular', 'triangular2' or "
                              f"'exp_range' (or give scale_fn), not {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ConfigError(f"{name}: scale_mode must be 'cycle' or 'iterations', not "
                              f"{scale_mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise ConfigError(f"{name}: scale_fn must be a function, got "
                              f"{type(scale_fn).__name__}")
        self.mode, self.gamma = mode, _number(name, "gamma", gamma, 0.0)
        self._scale_fn_custom: Callable[[float], float] | None = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else (
            "iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ConfigError(f"{name}: cycle_momentum=True, but {type(optimizer).__name__}"
                                  " has no momentum or betas; pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(name, "base_momentum", base_momentum, optimizer,
                                             low=0.0)
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, optimizer,
                                            low=0.0)
            if last_epoch == -1:
                for high, low, group in zip(self.max_momentums, self.base_momentums,
                                            optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _set_momentum(self, group: dict, value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or step) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale = x / self.step_ratio
        else:
            scale = (x - 1) / (self.step_ratio - 1)
        amplitude = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (high - base) * scale * amplitude
               for base, high in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums):
                self._set_momentum(group, high - (high - low) * scale * amplitude)
        return lrs

    def state_dict(self) -> dict:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None if fn is None or isinstance(
            fn, types.FunctionType) else dict(vars(fn))
        return state

    def _apply_state(self, state: dict) -> None:
        attributes = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if attributes is not None and self._scale_fn_custom is not None:
            vars(self._scale_fn_custom).update(attributes)
