"""NAdam and RAdam: Adam with Nesterov momentum, and Adam with a rectified adaptive step."""

from __future__ import annotations

from gradflow.optim.adam import Adam
from gradflow.optim.optimizer import Optimizer


class _AdamVariant(Adam):
    """Shared options: Adam's plus decoupled_weight_decay (AdamW-style decay)."""

    def _check_group(self, group: dict) -> None:
        self._check_moments(group)
        self._bool(group, "decoupled_weight_decay")

    def _step_options(self, group: dict) -> dict:
        # NOTE: the group's own decoupled_weight_decay, not Adam's class-wide one
        return Optimizer._step_options(self, group)

    def _moments(self, param, grad, state, o):
        """Advance step, exp_avg and exp_avg_sq; returns (param array after decay, g)."""
        beta1, beta2 = o["betas"]
        state["step"] += 1
        data, g = param.data, -grad if o["maximize"] else grad
        if o["weight_decay"] != 0:
            if o["decoupled_weight_decay"]:
                data = data * (1 - o["lr"] * o["weight_decay"])
            else:
                g = g + o["weight_decay"] * data
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.data = exp_avg.data + (1 - beta1) * (g - exp_avg.data)
        exp_avg_sq.data = exp_avg_sq.data * beta2 + (1 - beta2) * (g * g)
        return data, g


class NAdam(_AdamVariant):
    """NAdam (Adam with Nesterov momentum), step for step as `torch.optim.NAdam`.

    At step t, with mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)) and their running
    product P_t: p -= lr (1 - mu_t) / (1 - P_t) g / d + lr mu_{t+1} / (1 - P_t mu_{t+1}) m / d,
    where d = sqrt(v / (1 - beta2^t)) + eps and m, v are Adam's moments.

    Args:
        params, lr, betas, eps, weight_decay, maximize: as `Adam` (lr defaults to 2e-3).
        momentum_decay: how fast mu_t approaches beta1 (4e-3).
        decoupled_weight_decay: shrink the parameter (as AdamW) instead of adding an L2 term.

    Example:
        >>> opt = gf.optim.NAdam(model.parameters(), lr=2e-3)
    """

    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        super(Adam, self).__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        group["momentum_decay"] = self._float(group, "momentum_decay")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _update(self, param, grad, state, o):
        if not state:
            self._new_state(param, state, o, step=0, mu_product=1.0)
        data, g = self._moments(param, grad, state, o)
        xp, (beta1, beta2), step, lr = param.backend.xp, o["betas"], state["step"], o["lr"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * o["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * o["momentum_decay"]))
        state["mu_product"] *= mu
        product = state["mu_product"]
        denom = xp.sqrt(state["exp_avg_sq"].data / (1 - beta2 ** step)) + o["eps"]
        data = data + (-lr * (1.0 - mu) / (1.0 - product)) * (g / denom)
        return data + ((-lr * mu_next) / (1.0 - product * mu_next)) * (
            state["exp_avg"].data / denom)


class RAdam(_AdamVariant):
    """RAdam (rectified Adam), step for step as `torch.optim.RAdam`.

    While the variance of the adaptive step is intractable (rho_t <= 5) it takes plain
    momentum steps p -= lr m / (1 - beta1^t); after, Adam's step times the rectification
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).

    Args:
        params, lr, betas, eps, weight_decay, maximize: as `Adam`.
        decoupled_weight_decay: shrink the parameter (as AdamW) instead of adding an L2 term.

    Example:
        >>> opt = gf.optim.RAdam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        super(Adam, self).__init__(params, defaults)

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "exp_avg", "exp_avg_sq")

    def _update(self, param, grad, state, o):
        if not state:
            self._new_state(param, state, o, step=0)
        data, _ = self._moments(param, grad, state, o)
        xp, (beta1, beta2), step, lr = param.backend.xp, o["betas"], state["step"], o["lr"]
        correction2 = 1 - beta2 ** step
        corrected = state["exp_avg"].data / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / correction2
        if rho_t <= 5.0:
            return data - corrected * lr
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        adaptive = correction2 ** 0.5 / (xp.sqrt(state["exp_avg_sq"].data) + o["eps"])
        return data - corrected * lr * adaptive * rect
