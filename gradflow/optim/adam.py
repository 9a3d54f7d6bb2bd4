"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

from gradflow.errors import ConfigError
from gradflow.optim.optimizer import Optimizer
from gradflow.tensor import Tensor


class Adam(Optimizer):
    """Adam, step for step as `torch.optim.Adam`.

    With g the gradient (negated if maximize) plus weight_decay * p, at step t:
    m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2 (v replaced by its running
    maximum under amsgrad), p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        betas: decay rates (beta1, beta2) of the first and second moments, each in [0, 1).
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
        amsgrad: use the maximum of the second moments so far (AMSGrad).
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
        >>> loss.backward(); opt.step(); opt.zero_grad()
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check_moments(group)
        self._bool(group, "amsgrad")

    def _check_moments(self, group: dict) -> None:
        """lr, betas, eps, weight_decay and maximize: the options of the Adam family."""
        Optimizer._check_group(self, group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ConfigError(f"{self._name}: invalid betas={betas!r}; expected a pair "
                              "(beta1, beta2)")
        group["betas"] = tuple(
            self._float({f"betas[{i}]": b}, f"betas[{i}]", 0.0, 1.0, high_inclusive=False)
            for i, b in enumerate(betas))
        group["eps"] = self._float(group, "eps")
        group["weight_decay"] = self._float(group, "weight_decay")
        self._bool(group, "maximize")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        keys = ("step", "exp_avg", "exp_avg_sq")
        return keys + ("max_exp_avg_sq",) if group["amsgrad"] else keys

    def _step_options(self, group: dict) -> dict:
        options = super()._step_options(group)
        options["decoupled_weight_decay"] = self._decoupled
        return options

    def _update(self, param, grad, state, options):
        if not state:
            state["step"] = 0
            for key in self._state_keys(options)[1:]:
                state[key] = Tensor._wrap(self._buffer(param), param.backend)
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        max_sq = state.get("max_exp_avg_sq")
        data, exp_avg.data, exp_avg_sq.data, max_data = param.backend.adam_step(
            param.data, grad, exp_avg.data, exp_avg_sq.data,
            None if max_sq is None else max_sq.data, state["step"], options)
        if max_sq is not None:
            max_sq.data = max_data
        return data


class AdamW(Adam):
    """Adam with decoupled weight decay, step for step as `torch.optim.AdamW`.

    The parameter shrinks by lr * weight_decay * p before the Adam step, instead of the
    decay entering the gradient.

    Args:
        params, lr, betas, eps, amsgrad, maximize: as `Adam`.
        weight_decay: decoupled weight decay coefficient (default 1e-2).

    Example:
        >>> opt = gf.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
