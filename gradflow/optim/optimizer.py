"""The Optimizer base class: parameter groups, per-parameter state, state dicts.

A subclass names its defaults, validates its options in `_check_group` and
updates one parameter in `_update` by calling its backend kernel on the raw
arrays (no graph is recorded). Hyperparameters are kept as Python floats:
a NumPy scalar would silently upcast float32 arrays.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

from gradflow.autograd.grad_mode import enable_grad, no_grad
from gradflow.errors import ConfigError, DeviceMismatchError, ShapeError, StateDictError
from gradflow.tensor import Tensor


class Optimizer:
    """Base class: holds parameter groups and the state of each parameter.

    Args:
        params: an iterable of tensors, or of dicts {"params": [...], option: value}
            that override the defaults for their group.
        defaults: every option and its default value.

    Attributes:
        param_groups: list of dicts, each with "params" and all options.
        state: parameter -> dict of its state tensors (and "step").
    """

    _scalar_state: tuple[str, ...] = ("step",)  # state entries that are numbers, not tensors

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[Tensor, dict] = {}
        if isinstance(params, Tensor):
            raise ConfigError(f"{self._name}: params must be an iterable of tensors or dicts, "
                              "not a single tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ConfigError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = [f"{self._name} ("]
        for index, group in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in sorted(group.items()) if k != "params")
            lines.append(f"  group {index}: {len(group['params'])} params, {options}")
        return "\n".join(lines + [")"])

    # -- groups and options ---------------------------------------------------

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (the rest from the defaults).

        Args:
            param_group: {"params": tensors, option: value, ...}.

        Example:
            >>> model = nn.ModuleDict({"body": nn.Linear(4, 8), "head": nn.Linear(8, 2)})
            >>> opt = gf.optim.SGD(model["body"].parameters(), lr=0.1)
            >>> opt.add_param_group({"params": model["head"].parameters(), "lr": 0.01})
        """
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise ConfigError(f"{self._name}: a parameter group is a dict with a 'params' key")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise ConfigError(f"{self._name}: can only optimize tensors, "
                                  f"got {type(p).__name__}")
            if not p.is_leaf:
                raise ConfigError(f"{self._name}: cannot optimize a non-leaf tensor "
                                  f"(shape {p.shape}); optimize the leaf it came from")
            if id(p) in seen:
                raise ConfigError(f"{self._name}: a parameter (shape {p.shape}) appears in more "
                                  "than one place; each parameter belongs to one group once")
            seen.add(id(p))
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise ConfigError(f"{self._name}: unknown option(s) {sorted(unknown)}; "
                              f"options are {sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate and normalize a group's options in place (subclasses extend)."""
        group["lr"] = self._float(group, "lr")

    def _float(self, group: dict, option: str, low: float = 0.0, high: float | None = None,
               high_inclusive: bool = True) -> float:
        """group[option] as a Python float in [low, high], or a ConfigError naming it."""
        value = group[option]
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = math.isfinite(value) and value >= low
            if high is not None:
                ok = ok and (value <= high if high_inclusive else value < high)
        if not ok:
            span = f"[{low}, {high}{']' if high_inclusive else ')'}" if high is not None else \
                f">= {low}"
            raise ConfigError(f"{self._name}: invalid {option}={group[option]!r}; "
                              f"expected a finite number {span}")
        return value

    def _bool(self, group: dict, option: str) -> bool:
        value = group[option]
        if not isinstance(value, bool):
            raise ConfigError(f"{self._name}: invalid {option}={value!r}; expected True or False")
        return value

    # -- the step ---------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient.

        Args:
            set_to_none: drop the gradients (default; saves memory and a pass)
                instead of filling them with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif grad.backend.inplace:
                    grad.data[...] = 0.0
                    grad._version += 1
                else:
                    grad.data = grad.backend.xp.zeros_like(grad.data)
                    grad._version += 1

    def step(self, closure: Callable | None = None):
        """Update every parameter that has a gradient, once.

        Args:
            closure: optional function that re-evaluates the model and returns the loss;
                it runs with gradients enabled before the update.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        work = []  # checked before anything changes, so a bad gradient updates nothing
        for group in self.param_groups:
            pairs = [(p, p.grad) for p in group["params"] if p.grad is not None]
            for p, grad in pairs:
                if grad.backend is not p.backend or grad.data.shape != p.data.shape:
                    self._bad_grad(p, grad)
            work.append((self._step_options(group), pairs))
        with no_grad():
            for options, pairs in work:
                for p, grad in pairs:
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    else:
                        _follow(p, state)
                    _assign(p, self._update(p, grad.data, state, options))
        return loss

    def _step_options(self, group: dict) -> dict:
        """The group's options for this step, as Python floats (a scheduler may have set them)."""
        return {k: _plain(v) for k, v in group.items() if k != "params"}

    def _update(self, param: Tensor, grad, state: dict, options: dict):
        """Update one parameter from its gradient array; returns the new parameter array."""
        raise NotImplementedError

    def _bad_grad(self, p: Tensor, grad: Tensor):
        if grad.backend is not p.backend:
            raise DeviceMismatchError(f"{self._name}: a parameter on {p.device!r} has its "
                                      f"gradient on {grad.device!r}")
        raise ShapeError(f"{self._name}: a parameter of shape {p.shape} has a gradient of "
                         f"shape {grad.shape}")

    def _new_state(self, param: Tensor, state: dict, group: dict, **scalars) -> None:
        """Fill an empty state: the scalars given, zero tensors for the other _state_keys."""
        state.update(scalars)
        for key in self._state_keys(group):
            if key not in state:
                state[key] = Tensor._wrap(self._buffer(param), param.backend)

    @staticmethod
    def _direction(param, grad, options: dict):
        """The gradient array negated under maximize, plus weight_decay * param (L2)."""
        g = -grad if options["maximize"] else grad
        return g + options["weight_decay"] * param.data if options["weight_decay"] != 0 else g

    @staticmethod
    def _buffer(param: Tensor, value: float = 0.0):
        """A new state array like `param`, on its device, filled with `value`."""
        xp = param.backend.xp
        return xp.full(param.data.shape, value, dtype=param.data.dtype,
                       device=param.backend.device)

    # -- state dicts ------------------------------------------------------------

    def _state_keys(self, group: dict) -> tuple[str, ...]:
        """The state entries a parameter of this group has after one step."""
        return ()

    def state_dict(self) -> dict:
        """The optimizer's state, PyTorch-style: parameters are numbered in group order.

        Returns:
            {"state": {index: {name: Tensor or int}}, "param_groups": [{option: value,
            "params": [index, ...]}]}. The tensors share memory with the live state.

        Example:
            >>> sd = opt.state_dict()
            >>> opt2 = gf.optim.SGD(model.parameters(), lr=0.5)
            >>> opt2.load_state_dict(sd)
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
                ids.append(index_of[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for p, entries in self.state.items():
            if id(p) in index_of and entries:
                state[index_of[id(p)]] = {
                    k: (Tensor._wrap(v.data, v.backend) if isinstance(v, Tensor) else v)
                    for k, v in entries.items()
                }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state from `state_dict()`; on any mismatch, raise and change nothing.

        Group and parameter counts and every state tensor's shape are checked; state
        tensors are copied onto each parameter's device and dtype.

        Args:
            state_dict: a dict from `state_dict()` (of this or an identically built optimizer).

        Raises:
            StateDictError: naming the group, parameter index, entry and shapes at fault.
        """
        problem = self.state_dict_problem(state_dict)
        if problem is not None:
            field, text = problem
            raise StateDictError(f"{self._name}.load_state_dict: state_dict{field}: {text}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise StateDictError(f"{self._name}.load_state_dict: the state has "
                                 f"{len(saved_groups)} parameter group(s), the optimizer "
                                 f"{len(self.param_groups)}")
        param_of: dict[int, Tensor] = {}
        new_groups = []
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = list(saved.get("params", ()))
            if len(ids) != len(group["params"]):
                raise StateDictError(f"{self._name}.load_state_dict: group {number} has "
                                     f"{len(ids)} parameter(s) in the state, "
                                     f"{len(group['params'])} in the optimizer")
            param_of.update(zip(ids, group["params"]))
            new_group = {**self.defaults, **{k: v for k, v in saved.items() if k != "params"},
                         "params": group["params"]}
            try:
                self._check_group(new_group)
            except ConfigError as exc:
                raise StateDictError(f"{self._name}.load_state_dict: group {number}: {exc}") \
                    from None
            new_groups.append(new_group)
        group_of = {id(p): g for g in new_groups for p in g["params"]}
        new_state: dict[Tensor, dict] = {}
        for index, entries in state_dict["state"].items():
            p = param_of.get(index)
            if p is None:
                raise StateDictError(f"{self._name}.load_state_dict: state for parameter "
                                     f"{index!r}, which no group lists")
            new_state[p] = self._load_entries(index, p, entries, group_of[id(p)])
        self.param_groups[:] = new_groups
        self.state = new_state

    def state_dict_problem(self, state_dict) -> tuple[str, str] | None:
        """The first malformed field of a state dict for this optimizer, as (field, problem).

        Checks the form only (types, option values, steps), not whether it fits the
        parameters: load_state_dict checks that. None when the form is right.

        Example:
            >>> opt.state_dict_problem({"state": {}, "param_groups": [None]})
            ("['param_groups'][0]", 'expected a dict of options, got NoneType')
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else None
            return "", (f"expected a dict with keys 'state' and 'param_groups', got "
                        f"{keys if keys is not None else type(state_dict).__name__}")
        groups, state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(groups, (list, tuple)):
            return "['param_groups']", f"expected a list of dicts, got {type(groups).__name__}"
        for number, group in enumerate(groups):
            field = f"['param_groups'][{number}]"
            if not isinstance(group, dict):
                return field, f"expected a dict of options, got {type(group).__name__}"
            params = group.get("params")
            if not isinstance(params, (list, tuple)) or not all(
                    type(i) is int and i >= 0 for i in params):
                return f"{field}['params']", f"expected a list of parameter indices (ints >= 0)" \
                    f", got {params!r}"
            # NOTE: keys beyond the defaults are allowed: schedulers add initial_lr, max_lr...
            try:
                self._check_group({**self.defaults, **group, "params": []})
            except ConfigError as exc:
                return field, str(exc)
        if not isinstance(state, dict):
            return "['state']", f"expected a dict of parameter index -> dict, got " \
                f"{type(state).__name__}"
        for index, entries in state.items():
            field = f"['state'][{index!r}]"
            if type(index) is not int or index < 0:
                return field, f"parameter index {index!r} is not an int >= 0"
            if not isinstance(entries, dict):
                return field, f"expected a dict of state entries, got {type(entries).__name__}"
            for key, value in entries.items():
                if key in self._scalar_state:
                    if _step_value(value) is None:
                        return f"{field}[{key!r}]", f"{key} must be a finite number >= 0, " \
                            f"got {value!r}"
                elif not (value is None or isinstance(value, Tensor) or hasattr(value, "shape")):
                    return f"{field}[{key!r}]", f"expected a tensor, got {type(value).__name__}"
        return None

    def _load_entries(self, index, p: Tensor, entries: dict, group: dict) -> dict:
        from gradflow.creation import tensor

        where = f"{self._name}.load_state_dict: parameter {index}"
        missing = set(self._state_keys(group)) - set(entries)
        if missing:
            raise StateDictError(f"{where} lacks {sorted(missing)}")
        loaded = {}
        for key, value in entries.items():
            if key in self._scalar_state:
                number = _step_value(value)
                loaded[key] = int(number) if key == "step" else number
                continue
            if value is None:
                loaded[key] = None
                continue
            shape = tuple(value.shape) if hasattr(value, "shape") else None
            if shape != p.shape:
                raise StateDictError(f"{where}: {key!r} has shape {shape}, the parameter "
                                     f"{p.shape}")
            loaded[key] = tensor(value, dtype=p.dtype, device=p.device)
        return loaded


def _assign(p: Tensor, data) -> None:
    """Make `data` the parameter's value: in place where the backend allows (views and the
    arrays that others hold see it), else by rebinding; the version counter moves either way."""
    if data is not p.data and p.backend.inplace and data.shape == p.data.shape:
        p.data[...] = data
    else:
        p.data = data
    p._version += 1


def _step_value(value) -> float | None:
    """A state dict's step as a float, or None when it is not a finite number >= 0."""
    if isinstance(value, Tensor) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def _plain(value):
    """Reals as Python floats (bools kept), tuples element-wise."""
    if type(value) in (float, bool, str):
        return value
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _follow(p: Tensor, state: dict) -> None:
    """Move state tensors to the parameter's device and dtype (after a `Module.to`)."""
    for key, value in state.items():
        if isinstance(value, Tensor) and (value.backend is not p.backend
                                          or value.data.dtype != p.data.dtype):
            state[key] = value.to(p.device, p.dtype)
