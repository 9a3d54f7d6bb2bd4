"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from gradflow.errors import ConfigError
from gradflow.optim.optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, step for step as `torch.optim.SGD`.

    With g the gradient (negated if maximize) plus weight_decay * p:
    buf = momentum * buf + (1 - dampening) * g (buf = g on the first step);
    p -= lr * (g + momentum * buf if nesterov else buf), or lr * g without momentum.

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        momentum: momentum factor (0 disables it).
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        maximize: ascend instead of descend.
        foreach: accepted for PyTorch compatibility (None, True or False); gradflow's update
            is the same either way.

    Example:
        >>> opt = gf.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for option in ("momentum", "dampening", "weight_decay"):
            group[option] = self._float(group, option)
        for option in ("nesterov", "maximize"):
            self._bool(group, option)
        if group["foreach"] is not None:
            self._bool(group, "foreach")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ConfigError(f"{self._name}: nesterov=True needs momentum > 0 and "
                              f"dampening=0, got momentum={group['momentum']}, "
                              f"dampening={group['dampening']}")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] != 0 else ()

    def _update(self, param, grad, state, options):
        buf = state.get("momentum_buffer")
        data, new_buf = param.backend.sgd_step(
            param.data, grad, None if buf is None else buf.data, options)
        if new_buf is not None:
            if buf is None:
                state["momentum_buffer"] = param._wrap(new_buf, param.backend)
            else:
                buf.data = new_buf
        return data
