"""ASGD: averaged stochastic gradient descent (Polyak-Ruppert averaging)."""

from __future__ import annotations

from gradflow.optim.optimizer import Optimizer


class ASGD(Optimizer):
    """Averaged SGD, step for step as `torch.optim.ASGD`.

    With g the gradient (negated if maximize) plus weight_decay * p, at step t:
    p = p (1 - lambd eta) - eta g; the average ax follows p (ax += mu (p - ax)) once t > t0;
    then eta = lr / (1 + lambd lr t)^alpha and mu = 1 / max(1, t - t0).
    The averaged parameters are in `optimizer.state[p]["ax"]`.

    Args:
        params: tensors, or dicts of tensors with per-group options.
        lr: learning rate.
        lambd: decay term.
        alpha: power of the eta update.
        t0: the step at which averaging starts.
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    Example:
        >>> opt = gf.optim.ASGD(model.parameters(), lr=0.01, t0=100)
        >>> loss.backward()
        >>> opt.step()
        >>> averaged = [opt.state[p]["ax"] for p in model.parameters()]
    """

    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, *, maximize: bool = False):
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for option in ("lambd", "alpha", "t0", "weight_decay"):
            group[option] = self._float(group, option)
        self._bool(group, "maximize")

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        return ("step", "eta", "mu", "ax")

    def _update(self, param, grad, state, o):
        if not state:
            self._new_state(param, state, o, step=0, eta=o["lr"], mu=1.0)
        state["step"] += 1
        g = self._direction(param, grad, o)
        eta = state["eta"]
        data = param.data * (1 - o["lambd"] * eta) - eta * g
        ax = state["ax"]
        xp = param.backend.xp
        ax.data = (ax.data + (data - ax.data) * state["mu"] if state["mu"] != 1
                   else xp.asarray(data, copy=True))
        step = state["step"]
        state["eta"] = o["lr"] / ((1 + o["lambd"] * o["lr"] * step) ** o["alpha"])
        state["mu"] = 1 / max(1, step - o["t0"])
        return data
