"""Adadelta: steps scaled by the ratio of running RMS of updates to running RMS of gradients."""

from __future__ import annotations

from gradflow.optim.optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta, step for step as `torch.optim.Adadelta`.

    With g the gradient (negated if maximize) plus weight_decay * p:
    v = rho v + (1 - rho) g^2; d = sqrt(u + eps) / sqrt(v + eps) * g;
    u = rho u + (1 - rho) d^2; p -= lr * d.

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: scale of the update (1.0 in the paper).
        rho: decay of the running averages, in [0, 1].
        eps: added inside both square roots.
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9)
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        group["rho"] = self._float(group, "rho", 0.0, 1.0)
        group["eps"] = self._float(group, "eps")
        group["weight_decay"] = self._float(group, "weight_decay")
        self._bool(group, "maximize")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "square_avg", "acc_delta")

    def _update(self, param, grad, state, o):
        if not state:
            self._new_state(param, state, o, step=0)
        state["step"] += 1
        xp, rho = param.backend.xp, o["rho"]
        g = self._direction(param, grad, o)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg.data = square_avg.data * rho + (1 - rho) * (g * g)
        delta = xp.sqrt(acc_delta.data + o["eps"]) / xp.sqrt(square_avg.data + o["eps"]) * g
        acc_delta.data = acc_delta.data * rho + (1 - rho) * (delta * delta)
        return param.data - o["lr"] * delta
