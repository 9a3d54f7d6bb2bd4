"""L-BFGS: a quasi-Newton method from a short history of steps, with a strong-Wolfe line search.

The parameters are treated as one flat vector (all in one group, on one device). Each
`step(closure)` runs up to max_iter iterations: the two-loop recursion turns the gradient
into a direction from the last history_size (step, gradient change) pairs, then either a
fixed step of lr or a line search satisfying the strong Wolfe conditions (Nocedal & Wright,
Numerical Optimization, algorithms 3.5 and 3.6, with cubic interpolation) moves along it.
"""

from __future__ import annotations

import math
import numbers

from gradflow.autograd.grad_mode import enable_grad, no_grad
from gradflow.errors import ConfigError, StateDictError
from gradflow.optim.optimizer import Optimizer, _assign
from gradflow.tensor import Tensor

_VECTORS = ("d", "prev_flat_grad")
_VECTOR_LISTS = ("old_dirs", "old_stps")
_NUMBER_LISTS = ("ro", "al")
_NUMBERS = ("func_evals", "n_iter", "t", "H_diag", "prev_loss")


class LBFGS(Optimizer):
    """L-BFGS, step for step as `torch.optim.LBFGS` (needs a closure).

    Args:
        params: the tensors to optimize (one group only).
        lr: step length (the line search's first trial step when line_search_fn is set).
        max_iter: iterations per `step` call.
        max_eval: closure evaluations per `step` (default max_iter * 5 // 4).
        tolerance_grad: stop when the largest |gradient| entry is at most this.
        tolerance_change: stop when the loss or the step changes less than this.
        history_size: (step, gradient change) pairs kept.
        line_search_fn: None (fixed steps) or "strong_wolfe".

    Example:
        >>> opt = gf.optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = nn.functional.cross_entropy(model(x), y)
        ...     loss.backward()
        ...     return loss
        >>> first_loss = opt.step(closure)
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        if max_eval is None and isinstance(max_iter, int):
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ConfigError("LBFGS: takes one parameter group (no per-group options), got "
                              f"{len(self.param_groups)}")
        self._params = self.param_groups[0]["params"]
        if len({p.device for p in self._params}) != 1:
            raise ConfigError("LBFGS: all parameters must be on one device, got "
                              f"{sorted({p.device for p in self._params})}")

    def add_param_group(self, param_group: dict) -> None:
        if self.param_groups:
            raise ConfigError("LBFGS: takes one parameter group; add_param_group is not "
                              "supported")
        super().add_param_group(param_group)

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        for option in ("max_iter", "max_eval", "history_size"):
            value = group[option]
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ConfigError(f"LBFGS: invalid {option}={value!r}; expected an int >= 1")
        for option in ("tolerance_grad", "tolerance_change"):
            group[option] = self._float(group, option)
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ConfigError(f"LBFGS: invalid line_search_fn={group['line_search_fn']!r}; "
                              "expected None or 'strong_wolfe'")

    # -- the flat vector of all parameters ----------------------------------------------------

    @property
    def _xp(self):
        return self._params[0].backend.xp

    def _flat_grad(self):
        xp = self._xp
        pieces = [xp.reshape(p.grad.data, (-1,)) if p.grad is not None
                  else xp.zeros(p.numel(), dtype=p.data.dtype, device=p.backend.device)
                  for p in self._params]
        return xp.concat(pieces)

    def _add(self, step_size: float, update) -> None:
        xp, offset = self._xp, 0
        for p in self._params:
            n = p.numel()
            _assign(p, p.data + step_size * xp.reshape(update[offset:offset + n], p.data.shape))
            offset += n

    def _set(self, arrays) -> None:
        for p, data in zip(self._params, arrays):
            _assign(p, data)

    def _evaluate(self, closure) -> float:
        with enable_grad():
            loss = closure()
        return float(loss.item() if isinstance(loss, Tensor) else loss)

    def _dot(self, a, b) -> float:
        return float(self._xp.sum(a * b))

    def _max_abs(self, a) -> float:
        return float(self._xp.max(self._xp.abs(a)))

    # -- the step ---------------------------------------------------------------------------

    def step(self, closure):  # noqa: C901 - the algorithm reads best as one piece
        """Run up to max_iter L-BFGS iterations; returns the closure's first loss.

        Args:
            closure: clears the gradients, computes the loss, calls backward, returns it.
        """
        if closure is None:
            raise ConfigError("LBFGS.step needs a closure that re-evaluates the model and "
                              "returns the loss (see the class docstring)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        xp = self._xp
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss.item() if isinstance(orig_loss, Tensor) else orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if self._max_abs(flat_grad) <= tolerance_grad:
            return orig_loss

        d, t = _data(state.get("d")), state.get("t")
        old_dirs = [_data(v) for v in state.get("old_dirs", [])]
        old_stps = [_data(v) for v in state.get("old_stps", [])]
        ro, al = list(state.get("ro", [])), list(state.get("al", [None] * history_size))
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = _data(state.get("prev_flat_grad")), state.get("prev_loss")

        with no_grad():
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
                else:
                    y, s = flat_grad - prev_flat_grad, d * t
                    ys = self._dot(y, s)
                    if ys > 1e-10:  # curvature condition: keep the pair
                        if len(old_dirs) == history_size:
                            old_dirs.pop(0)
                            old_stps.pop(0)
                            ro.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        h_diag = ys / self._dot(y, y)
                    if len(al) < history_size:
                        al += [None] * (history_size - len(al))
                    q = -flat_grad
                    for i in range(len(old_dirs) - 1, -1, -1):  # two-loop recursion
                        al[i] = self._dot(old_stps[i], q) * ro[i]
                        q = q - al[i] * old_dirs[i]
                    r = q * h_diag
                    for i in range(len(old_dirs)):
                        beta = self._dot(old_dirs[i], r) * ro[i]
                        r = r + (al[i] - beta) * old_stps[i]
                    d = r
                prev_flat_grad = xp.asarray(flat_grad, copy=True)
                prev_loss = loss
                if state["n_iter"] == 1:
                    t = min(1.0, 1.0 / float(xp.sum(xp.abs(flat_grad)))) * lr
                else:
                    t = lr
                gtd = self._dot(flat_grad, d)
                if gtd > -tolerance_change:
                    break
                evals = 0
                if group["line_search_fn"] == "strong_wolfe":
                    start = [xp.asarray(p.data, copy=True) for p in self._params]

                    def evaluate(step_size, direction, start=start):
                        self._add(step_size, direction)
                        value = self._evaluate(closure)
                        gradient = self._flat_grad()
                        self._set(start)
                        return value, gradient

                    loss, flat_grad, t, evals = _strong_wolfe(
                        self, evaluate, t, d, loss, flat_grad, gtd,
                        tolerance_change=tolerance_change, max_ls=max_eval - current_evals)
                    self._add(t, d)
                    optimal = self._max_abs(flat_grad) <= tolerance_grad
                else:
                    self._add(t, d)
                    optimal = False
                    if n_iter != max_iter:
                        loss = self._evaluate(closure)
                        flat_grad = self._flat_grad()
                        optimal = self._max_abs(flat_grad) <= tolerance_grad
                        evals = 1
                current_evals += evals
                state["func_evals"] += evals
                if (n_iter == max_iter or current_evals >= max_eval or optimal
                        or self._max_abs(d * t) <= tolerance_change
                        or abs(loss - prev_loss) < tolerance_change):
                    break

        backend = self._params[0].backend
        wrap = lambda array: Tensor._wrap(array, backend)  # noqa: E731
        state.update({"d": wrap(d), "t": t, "old_dirs": [wrap(v) for v in old_dirs],
                      "old_stps": [wrap(v) for v in old_stps], "ro": ro, "al": al,
                      "H_diag": h_diag, "prev_flat_grad": wrap(prev_flat_grad),
                      "prev_loss": prev_loss})
        return orig_loss

    # -- state dicts ------------------------------------------------------------------------

    def state_dict_problem(self, state_dict) -> tuple[str, str] | None:
        problem = super().state_dict_problem(
            {**state_dict, "state": {}} if isinstance(state_dict, dict) and isinstance(
                state_dict.get("state"), dict) else state_dict)
        if problem is not None:
            return problem
        for index, entries in state_dict["state"].items():
            field = f"['state'][{index!r}]"
            if type(index) is not int or not isinstance(entries, dict):
                return field, "expected an int index and a dict of entries"
            for key, value in entries.items():
                if key in _NUMBERS and not (value is None or _is_number(value)):
                    return f"{field}[{key!r}]", f"expected a number, got {value!r}"
                if key in _NUMBER_LISTS and not (isinstance(value, (list, tuple)) and all(
                        v is None or _is_number(v) for v in value)):
                    return f"{field}[{key!r}]", f"expected a list of numbers, got {value!r}"
                if key in _VECTOR_LISTS and not isinstance(value, (list, tuple)):
                    return f"{field}[{key!r}]", f"expected a list of tensors, got {value!r}"
                if key not in _NUMBERS + _NUMBER_LISTS + _VECTOR_LISTS + _VECTORS:
                    return f"{field}[{key!r}]", "not an entry of LBFGS's state"
        return None

    def _load_entries(self, index, p: Tensor, entries: dict, group: dict) -> dict:
        from gradflow.creation import tensor

        numel = sum(q.numel() for q in self._params)

        def vector(value, key):
            if value is None:
                return None
            if tuple(getattr(value, "shape", ())) != (numel,):
                raise StateDictError(f"LBFGS.load_state_dict: {key!r} has shape "
                                     f"{getattr(value, 'shape', None)}, expected ({numel},)")
            return tensor(value, dtype=p.dtype, device=p.device)

        loaded = {}
        for key, value in entries.items():
            if key in _VECTORS:
                loaded[key] = vector(value, key)
            elif key in _VECTOR_LISTS:
                loaded[key] = [vector(v, key) for v in value]
            elif key in _NUMBER_LISTS:
                loaded[key] = [None if v is None else float(v) for v in value]
            else:
                loaded[key] = value if value is None or key not in ("func_evals", "n_iter") \
                    else int(value)
        return loaded


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(
        value)


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to bounds."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    square = d1 ** 2 - g1 * g2
    if square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(square)
    if x1 <= x2:
        position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(position, low), high)


def _strong_wolfe(opt, evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step t along d meeting the strong Wolfe conditions: (loss, gradient, t, evaluations)."""
    d_norm = opt._max_abs(d)
    f_new, g_new = evaluate(t, d)
    evals, gtd_new = 1, opt._dot(g_new, d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done, ls_iter = False, 0
    # bracketing phase: grow t until an interval holds a point meeting the conditions
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, values = [t_prev, t], [f_prev, f_new]
            grads, slopes = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, values, grads, done = [t], [f_new], [g_new], True
            break
        if gtd_new >= 0:
            bracket, values = [t_prev, t], [f_prev, f_new]
            grads, slopes = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        low, high = t + 0.01 * (t - t_prev), t * 10
        t, t_prev = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                   bounds=(low, high)), t
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = evaluate(t, d)
        evals += 1
        gtd_new = opt._dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, values, grads = [0, t], [f, f_new], [g, g_new]
        slopes = [gtd, gtd_new]
    # zoom phase: shrink the bracket until a point meets the conditions
    insufficient = False
    low_pos, high_pos = (0, 1) if values[0] <= values[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], values[0], slopes[0], bracket[1], values[1], slopes[1])
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too near an end: move it inside
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t, d)
        evals += 1
        gtd_new = opt._dot(g_new, d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= values[low_pos]:
            bracket[high_pos], values[high_pos] = t, f_new
            grads[high_pos], slopes[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if values[0] <= values[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], values[high_pos] = bracket[low_pos], values[low_pos]
                grads[high_pos], slopes[high_pos] = grads[low_pos], slopes[low_pos]
            bracket[low_pos], values[low_pos] = t, f_new
            grads[low_pos], slopes[low_pos] = g_new, gtd_new
    return values[low_pos], grads[low_pos], bracket[low_pos], evals
