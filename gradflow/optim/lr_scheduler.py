"""Learning-rate schedulers, each giving the same lr sequence as its PyTorch namesake.

Call `scheduler.step()` once per epoch (OneCycleLR: once per batch) after
`optimizer.step()`. Schedulers other than OneCycleLR and ReduceLROnPlateau
update each group's current lr multiplicatively, so two of them can be chained
on one optimizer.
"""

from __future__ import annotations

import bisect
import math
import numbers
import types
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
        self._apply_state(dict(state_dict))

    def _apply_state(self, state: dict) -> None:
        """Take a checked state (subclasses restore what state_dict() left out)."""
        self.__dict__.update(state)

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
        self._initial_step()

    _is_initial = False  # True during the step that construction takes

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr of each group for epoch `last_epoch`, from the current ones."""
        raise NotImplementedError

    def _closed_form(self) -> list[float] | None:
        """The lr of each group at epoch `last_epoch` from the base lrs alone (None: no form)."""
        return None

    def step(self) -> None:
        """Advance one epoch (or batch) and update each group's lr."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Next epoch's lrs from get_lr, or jump to `epoch` (the closed form where there is one)."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form()
            if values is None:
                values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
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
                 gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
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
        self._scale_fn_custom = scale_fn
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


class _Composite(LRScheduler):
    """Schedulers made of schedulers (their state nested under "_schedulers"); an
    LRScheduler for isinstance checks, though its own __init__ takes no first step."""

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def state_dict_problem(self, state_dict) -> tuple[str, str] | None:
        problem = super().state_dict_problem(state_dict)
        if problem is not None or "_schedulers" not in state_dict:
            return problem
        for index, (child, state) in enumerate(zip(self._schedulers,
                                                   state_dict["_schedulers"])):
            problem = child.state_dict_problem(state)
            if problem is not None:
                return f"['_schedulers'][{index}]{problem[0]}", problem[1]
        return None

    def _apply_state(self, state: dict) -> None:
        children = state.pop("_schedulers", None)
        self.__dict__.update(state)
        for child, child_state in zip(self._schedulers, children or []):
            child.load_state_dict(child_state)


def _check_children(owner: str, schedulers, optimizer) -> list:
    schedulers = list(schedulers)
    if not schedulers:
        raise ConfigError(f"{owner}: needs at least one scheduler")
    for index, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, LRScheduler):
            raise ConfigError(f"{owner}: schedulers[{index}] is a {type(scheduler).__name__}; "
                              "it takes LR schedulers stepped without a metric (not "
                              "ReduceLROnPlateau)")
        if scheduler.optimizer is not optimizer:
            raise ConfigError(f"{owner}: schedulers[{index}] ({type(scheduler).__name__}) "
                              "belongs to another optimizer")
    return schedulers


class SequentialLR(_Composite):
    """Run schedulers one after another, switching at the milestone epochs.

    Args:
        optimizer: the optimizer all the schedulers drive.
        schedulers: the schedulers, in order.
        milestones: the epochs at which the next one takes over (one fewer than schedulers).
        last_epoch: the last epoch's index when resuming (-1 to start).

    Example:
        >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        >>> decay = CosineAnnealingLR(opt, T_max=95)
        >>> sched = SequentialLR(opt, [warmup, decay], milestones=[5])
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        self._schedulers = _check_children("SequentialLR", schedulers, optimizer)
        milestones = [_count("SequentialLR", "milestones", m, 0) for m in milestones]
        if len(milestones) != len(self._schedulers) - 1:
            raise ConfigError(f"SequentialLR: {len(self._schedulers)} schedulers need "
                              f"{len(self._schedulers) - 1} milestones, got {len(milestones)}")
        self._milestones = milestones
        self.optimizer = optimizer
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo(self)  # each child took its first step when it was built
        first = self._schedulers[bisect.bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo(self, scheduler) -> None:
        if hasattr(scheduler, "_schedulers"):
            for child in scheduler._schedulers:
                self._undo(child)
        elif hasattr(scheduler, "last_epoch"):
            scheduler.last_epoch -= 1

    def step(self) -> None:
        """Advance one epoch with the scheduler whose turn it is."""
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step several schedulers together each epoch (their effects multiply).

    Args:
        schedulers: the schedulers, stepped in order.
        optimizer: their optimizer (default: the first one's).

    Example:
        >>> sched = ChainedScheduler([ConstantLR(opt, 0.5, 4), ExponentialLR(opt, 0.9)])
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        optimizer = optimizer or (schedulers[0].optimizer if schedulers else None)
        self._schedulers = _check_children("ChainedScheduler", schedulers, optimizer)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self) -> None:
        """Step every scheduler once."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


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
        >>> val_loss = 0.25
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


__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
           "MultiplicativeLR", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau",
           "SequentialLR", "StepLR"]
