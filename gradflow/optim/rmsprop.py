"""RMSprop: divide the gradient by a running root mean square of its recent values."""

from __future__ import annotations

from gradflow.optim.optimizer import Optimizer
from gradflow.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop, step for step as `torch.optim.RMSprop`.

    With g the gradient (negated if maximize) plus weight_decay * p:
    v = alpha v + (1 - alpha) g^2; centered also tracks a = alpha a + (1 - alpha) g and
    uses v - a^2; d = sqrt(.) + eps; p -= lr * g / d, or with momentum
    buf = momentum buf + g / d and p -= lr * buf.

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        alpha: smoothing constant of the squared-gradient average.
        eps: added to the denominator.
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum factor (0 disables it).
        centered: normalize by the estimated variance instead of the raw second moment.
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9, centered=True)
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        group["alpha"] = self._float(group, "alpha", 0.0, 1.0)
        for option in ("eps", "weight_decay", "momentum"):
            group[option] = self._float(group, option)
        self._bool(group, "centered")
        self._bool(group, "maximize")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        keys = ("step", "square_avg")
        if group["momentum"] > 0:
            keys += ("momentum_buffer",)
        return keys + ("grad_avg",) if group["centered"] else keys

    def _update(self, param, grad, state, options):
        if not state:
            state["step"] = 0
            for key in self._state_keys(options)[1:]:
                state[key] = Tensor._wrap(self._buffer(param), param.backend)
        state["step"] += 1
        square_avg = state["square_avg"]
        grad_avg, buf = state.get("grad_avg"), state.get("momentum_buffer")
        data, square_avg.data, grad_avg_data, buf_data = param.backend.rmsprop_step(
            param.data, grad, square_avg.data, None if grad_avg is None else grad_avg.data,
            None if buf is None else buf.data, options)
        if grad_avg is not None:
            grad_avg.data = grad_avg_data
        if buf is not None:
            buf.data = buf_data
        return data
