"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from gradflow.optim.optimizer import Optimizer
from gradflow.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad, step for step as `torch.optim.Adagrad`.

    With g the gradient (negated if maximize) plus weight_decay * p, at step t:
    s += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps).

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the sum s.
        eps: added to the denominator.
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.Adagrad(model.parameters(), lr=0.01)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for option in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[option] = self._float(group, option)
        self._bool(group, "maximize")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "sum")

    def _update(self, param, grad, state, options):
        if not state:
            state["step"] = 0
            state["sum"] = Tensor._wrap(
                self._buffer(param, options["initial_accumulator_value"]), param.backend)
        state["step"] += 1
        total = state["sum"]
        data, total.data = param.backend.adagrad_step(
            param.data, grad, total.data, state["step"], options)
        return data
