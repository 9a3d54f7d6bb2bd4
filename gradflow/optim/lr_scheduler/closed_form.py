"""Schedules with a closed form per epoch: step, multi-step, exponential, cosine, linear,
constant and polynomial factors, and the lambda-given ones."""

from __future__ import annotations

import bisect
import math
import types
from collections import Counter

from gradflow.errors import ConfigError
from gradflow.optim.lr_scheduler.base import LRScheduler, _count, _number
from gradflow.optim.optimizer import Optimizer


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

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


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

    def _closed_form(self) -> list[float]:
        cuts = bisect.bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** cuts for base in self.base_lrs]


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

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


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

    def _closed_form(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


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

    def _closed_form(self) -> list[float]:
        start, end = self.start_factor, self.end_factor
        return [base * (start + (end - start) * min(self.total_iters, self.last_epoch)
                        / self.total_iters) for base in self.base_lrs]


def _lambdas(owner: str, lr_lambda, optimizer: Optimizer) -> list:
    n = len(optimizer.param_groups)
    lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
    if len(lambdas) != n:
        raise ConfigError(f"{owner}: {len(lambdas)} lr_lambda functions for {n} param groups")
    for fn in lambdas:
        if not callable(fn):
            raise ConfigError(f"{owner}: lr_lambda must be a function of the epoch, got "
                              f"{type(fn).__name__}")
    return lambdas


class _LambdaState:
    """State dicts without the lr_lambda functions (as PyTorch: a callable object's __dict__
    is kept, a plain function is not)."""

    lr_lambdas: list  # set by each scheduler

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def _apply_state(self, state: dict) -> None:
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for fn, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(fn).update(attributes)


class LambdaLR(_LambdaState, LRScheduler):
    """Set each group's lr to its initial lr times `lr_lambda(epoch)`.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index, or one per param group.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = LambdaLR(opt, lambda epoch: 0.95 ** epoch)
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        self.lr_lambdas = _lambdas("LambdaLR", lr_lambda, optimizer)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaState, LRScheduler):
    """Multiply each group's lr by `lr_lambda(epoch)` every epoch after the first.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch index giving the factor, or one per param group.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = MultiplicativeLR(opt, lambda epoch: 0.95)
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        self.lr_lambdas = _lambdas("MultiplicativeLR", lr_lambda, optimizer)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current()
        return [lr * fn(self.last_epoch) for fn, lr in zip(self.lr_lambdas, self._current())]


class ConstantLR(LRScheduler):
    """Scale the lr by `factor` for the first `total_iters` epochs, then restore it.

    Args:
        optimizer: the optimizer.
        factor: the multiplier while it lasts, in [0, 1].
        total_iters: epochs it lasts.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = ConstantLR(opt, factor=0.5, total_iters=4)   # half the lr for 4 epochs
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        self.factor = _number("ConstantLR", "factor", factor, 0.0, 1.0)
        self.total_iters = _count("ConstantLR", "total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current()]
        if self.last_epoch != self.total_iters:
            return self._current()
        return [lr * (1.0 / self.factor) for lr in self._current()]

    def _closed_form(self) -> list[float]:
        ended = self.last_epoch >= self.total_iters
        return [base * (self.factor + ended * (1 - self.factor)) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the lr as (1 - epoch / total_iters) ** power, reaching 0 at total_iters.

    Args:
        optimizer: the optimizer.
        total_iters: epochs of the decay.
        power: the polynomial's power.
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> sched = PolynomialLR(opt, total_iters=10, power=2.0)
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters = _count("PolynomialLR", "total_iters", total_iters)
        self.power = _number("PolynomialLR", "power", power, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, total = self.last_epoch, self.total_iters
        if self._is_initial or t > total:
            return self._current()
        factor = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [lr * factor for lr in self._current()]

    def _closed_form(self) -> list[float]:
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (1.0 - done) ** self.power for base in self.base_lrs]
