"""Adamax: Adam with the infinity norm of past gradients in place of their second moment."""

from __future__ import annotations

from gradflow.optim.adam import Adam


class Adamax(Adam):
    """Adamax, step for step as `torch.optim.Adamax`.

    With g the gradient (negated if maximize) plus weight_decay * p, at step t:
    m = beta1 m + (1 - beta1) g; u = max(beta2 u, |g| + eps); p -= lr / (1 - beta1^t) * m / u.

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        betas: decay rates (beta1, beta2), each in [0, 1).
        eps: added to |g| (keeps the denominator positive).
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.Adamax(model.parameters(), lr=2e-3)
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super(Adam, self).__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_moments(group)

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "exp_avg", "exp_inf")

    def _update(self, param, grad, state, o):
        if not state:
            self._new_state(param, state, o, step=0)
        state["step"] += 1
        xp, (beta1, beta2) = param.backend.xp, o["betas"]
        g = self._direction(param, grad, o)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.data = exp_avg.data + (1 - beta1) * (g - exp_avg.data)
        exp_inf.data = xp.maximum(exp_inf.data * beta2, xp.abs(g) + o["eps"])
        step_size = o["lr"] / (1 - beta1 ** state["step"])
        return param.data - step_size * (exp_avg.data / exp_inf.data)
