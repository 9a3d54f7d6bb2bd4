"""The scheduler base class, its state_dict, and the option checks every scheduler uses."""

from __future__ import annotations

import math
import numbers

from gradflow.errors import ConfigError, StateDictError
from gradflow.optim.optimizer import Optimizer


def _number(owner: str, option: str, value, low: float | None = None, high: float | None = None,
             low_open: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    number = float(value) if ok else math.nan
    if ok and low is not None:
        ok = number > low if low_open else number >= low
    if ok and high is not None:
        ok = number <= high
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
    _last_lr: list[float]  # set by each scheduler
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
            >>> from gradflow.optim.lr_scheduler import StepLR
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
