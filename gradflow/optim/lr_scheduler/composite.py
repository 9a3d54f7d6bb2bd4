"""Schedulers made of schedulers (SequentialLR, ChainedScheduler) and the one driven by a
metric (ReduceLROnPlateau)."""

from __future__ import annotations

import bisect
import math

from gradflow.errors import ConfigError
from gradflow.optim.lr_scheduler.base import LRScheduler, _count, _number, _per_group, _StateMixin
from gradflow.optim.optimizer import Optimizer


class _Composite(LRScheduler):
    """Schedulers made of schedulers (their state nested under "_schedulers"); an
    LRScheduler for isinstance checks, though its own __init__ takes no first step."""

    _schedulers: list[LRScheduler]  # set by each composite

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
        >>> from gradflow.optim.lr_scheduler import CosineAnnealingLR, LinearLR
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
        >>> from gradflow.optim.lr_scheduler import ConstantLR, ExponentialLR
        >>> sched = ChainedScheduler([ConstantLR(opt, 0.5, 4), ExponentialLR(opt, 0.9)])
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        optimizer = optimizer or (schedulers[0].optimizer if schedulers else None)
        self._schedulers = _check_children("ChainedScheduler", schedulers, optimizer)
        assert optimizer is not None  # the schedulers', checked above (there is at least one)
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
