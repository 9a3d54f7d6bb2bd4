"""Mixed precision: `gf.autocast` (PyTorch's op policy) and `gf.amp.GradScaler` (loss scaling).

Under `autocast(device_type, dtype)`, the op functions ask `autocast_inputs` how to cast
their floating inputs; the answer comes from one table, `POLICY`:

- "lower": matmul, linear, conv2d, bmm run in the low dtype (float16 or bfloat16);
- "float32": softmax, log_softmax, cross_entropy, nll_loss, the norms, sum, mean, exp,
  log and pow run in float32, whatever the dtype of their inputs;
- every other op runs in the dtype of its inputs, and a binary op of mixed dtypes
  promotes to the widest (float16 + float32 gives float32), as it does outside autocast.

float64 tensors are never cast. A Cast node's backward casts the gradient back to its
input's dtype, so gradients flow back in each op's own dtype and reach float32
parameters as float32. Backward runs without autocast (the engine clears it), as in
PyTorch.
"""

from __future__ import annotations

import array
import functools

from gradflow import dtypes as _dt
from gradflow.autograd.grad_mode import state as _state
from gradflow.errors import ConfigError, DTypeError
from gradflow.tensor import Tensor

__all__ = ["POLICY", "GradScaler", "autocast", "autocast_inputs", "get_autocast_dtype",
           "is_autocast_enabled"]

LOWER, FLOAT32 = "lower", "float32"
POLICY = {
    **dict.fromkeys(("matmul", "linear", "conv2d", "bmm"), LOWER),
    **dict.fromkeys(("softmax", "log_softmax", "cross_entropy", "nll_loss", "batch_norm",
                     "layer_norm", "norm", "sum", "mean", "exp", "log", "pow"), FLOAT32),
}
LOW_DTYPES = (_dt.float16, _dt.bfloat16)
DEFAULT_DTYPE = {"cpu": _dt.bfloat16, "cuda": _dt.float16}  # PyTorch's defaults


def device_kind(device) -> str:
    """"cpu", "cuda" or "strict" for a device name ("cuda:1") or a backend."""
    name = device if isinstance(device, str) else device.name
    return name.partition(":")[0]


def autocast_inputs(op: str, *args):
    """`args` cast as the autocast policy says for `op`, or unchanged outside autocast.

    Called by the op functions (matmul, linear, conv2d, softmax, sum, ...); constants and
    non-float or float64 tensors pass through.
    """
    regions = _state.autocast
    if regions is None:
        return args
    for arg in args:
        if isinstance(arg, Tensor):
            low = regions.get(device_kind(arg.backend))
            break
    else:
        return args
    if low is None:
        return args
    target = _dt.float32 if POLICY[op] == FLOAT32 else low
    return tuple(_cast(arg, target) for arg in args)


def _cast(arg, target: _dt.DType):
    if not isinstance(arg, Tensor):
        return arg
    dtype = arg.dtype
    if dtype is target or not dtype.is_floating_point or dtype is _dt.float64:
        return arg
    from gradflow.ops.elementwise import cast

    return cast(arg, target)


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region for this device type encloses the caller."""
    return bool(_state.autocast) and device_type in _state.autocast


def get_autocast_dtype(device_type: str = "cuda") -> _dt.DType | None:
    """The low dtype of the enclosing autocast region for this device type, or None."""
    return (_state.autocast or {}).get(device_type)


class autocast:
    """Run matmuls and convolutions in a low dtype and precision-sensitive ops in float32.

    A context manager and a decorator. Regions nest; an inner `enabled=False` region runs
    everything in its inputs' dtypes. Run backward after the region (it ignores autocast
    in any case) and keep parameters in float32.

    Args:
        device_type: "cpu", "cuda" or "strict"; only tensors on devices of this type are
            cast (a "cuda:1" or "strict:device1" name counts as its type).
        dtype: gf.float16 or gf.bfloat16; default bfloat16 on the CPU, float16 on CUDA.
        enabled: False makes the region a no-autocast region.

    Raises:
        DTypeError: the dtype is not a low float dtype, or the device has no such dtype
            (array-api-strict has neither float16 nor bfloat16; the CPU has bfloat16 only
            with ml_dtypes installed).

    Example:
        >>> with gf.autocast("cpu", dtype=gf.bfloat16):
        ...     loss = F.cross_entropy(model(x), y)   # conv/linear in bfloat16, loss float32
        >>> loss.backward()
    """

    def __init__(self, device_type: str = "cuda", dtype: _dt.DType | None = None,
                 enabled: bool = True):
        kind = device_kind(device_type)
        if kind not in ("cpu", "cuda", "strict"):
            raise ConfigError(f"autocast: device_type must be 'cpu', 'cuda' or 'strict', "
                              f"got {device_type!r}")
        dtype = DEFAULT_DTYPE.get(kind, _dt.float16) if dtype is None else dtype
        if isinstance(dtype, str):
            dtype = _dt.by_name(dtype)
        if dtype not in LOW_DTYPES:
            raise DTypeError(f"autocast: dtype must be gf.float16 or gf.bfloat16, got {dtype!r}")
        self.device_type, self.dtype, self.enabled = kind, dtype, bool(enabled)
        if self.enabled:
            _check_supported(kind, device_type, dtype)
        self._saved: list = []

    def __enter__(self):
        previous = _state.autocast
        regions = dict(previous or {})
        if self.enabled:
            regions[self.device_type] = self.dtype
        else:
            regions.pop(self.device_type, None)
        self._saved.append(previous)
        _state.autocast = regions or None
        return self

    def __exit__(self, *exc) -> bool:
        _state.autocast = self._saved.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return wrapper


def _check_supported(kind: str, name: str, dtype: _dt.DType) -> None:
    """A DTypeError when the device lacks the dtype (CUDA without a GPU is not checked)."""
    from gradflow.backends import cuda_available, get_backend

    if kind == "cuda" and not cuda_available():
        return
    backend = get_backend(name if ":" in name else {"cuda": "cuda:0"}.get(kind, kind))
    if dtype not in backend.to_xp:
        hint = (" (install ml_dtypes for bfloat16 on the CPU: pip install ml_dtypes)"
                if kind == "cpu" else "")
        have = ", ".join(d.name for d in backend.to_xp if d.is_floating_point)
        raise DTypeError(f"autocast: device {backend.name!r} has no {dtype.name}; its float "
                         f"dtypes are {have}{hint}")


def _float32(value: float) -> float:
    """value rounded to float32 (inf past its range), as PyTorch keeps the scale."""
    return array.array("f", [value])[0]


_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """Loss scaling for float16 training, step for step as `torch.amp.GradScaler`.

    The loss is multiplied by the scale before backward so that small float16 gradients
    do not flush to zero; `step` divides the gradients by it again and skips the
    optimizer step when any gradient is inf or NaN; `update` halves the scale after such
    a step and doubles it after `growth_interval` clean steps in a row. The scale lives on
    the host as a float32 value; the inf check is one host sync per device and step.

    To clip gradients, unscale first, and let non-finite norms through (the scaler skips
    that step): `scaler.unscale_(opt)`, then
    `clip_grad_norm_(params, max_norm, nonfinite="ignore")`, then `scaler.step(opt)`.

    Args:
        init_scale: the first scale.
        growth_factor: multiplies the scale after growth_interval clean steps (> 1).
        backoff_factor: multiplies the scale after a step with infs (between 0 and 1).
        growth_interval: clean steps in a row before the scale grows.
        enabled: False makes every method a pass-through (scale() returns the loss).

    Example:
        >>> scaler = gf.amp.GradScaler()
        >>> with gf.autocast("cuda"):
        ...     loss = F.cross_entropy(model(x), y)
        >>> scaler.scale(loss).backward()
        >>> scaler.step(opt); scaler.update(); opt.zero_grad()
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True):
        if not init_scale > 0:
            raise ConfigError(f"GradScaler: init_scale must be > 0, got {init_scale}")
        if not growth_factor > 1:
            raise ConfigError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0 < backoff_factor < 1:
            raise ConfigError(f"GradScaler: backoff_factor must be in (0, 1), "
                              f"got {backoff_factor}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) \
                or growth_interval < 1:
            raise ConfigError(f"GradScaler: growth_interval must be a positive int, "
                              f"got {growth_interval!r}")
        self._enabled = bool(enabled)
        self._scale = _float32(float(init_scale))
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict[int, dict] = {}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def scale(self, outputs):
        """outputs (a Tensor, or a list/tuple of them, nested) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or a list/tuple of "
                        f"Tensors, got {type(outputs).__name__}")

    def _state_of(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": None})

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale, in place, and note any inf/NaN.

        Raises:
            RuntimeError: called twice for one optimizer before update(), or after step().
            DTypeError: a float16 gradient (keep parameters in float32 under autocast).
        """
        if not self._enabled:
            return
        state = self._state_of(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("GradScaler.unscale_() has already been called on this "
                               "optimizer since the last update()")
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.unscale_() is being called after step(); call "
                               "update() first")
        inv_scale = _float32(1.0 / self._scale)
        state["found_inf"] = _unscale_grads(optimizer, inv_scale)
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """Unscale (unless unscale_ was called) and run optimizer.step() unless a gradient
        is inf or NaN. Returns what optimizer.step returns, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: closure use is not supported")
        state = self._state_of(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("GradScaler.step() has already been called since the last "
                               "update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back off after a step with infs, grow after growth_interval clean steps, or set
        `new_scale`; then forget this iteration's inf checks."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = _float32(float(new_scale.item() if isinstance(new_scale, Tensor)
                                         else new_scale))
        else:
            checks = [s["found_inf"] for s in self._per_optimizer.values()
                      if s["found_inf"] is not None]
            if not checks:
                raise RuntimeError("GradScaler.update: no inf checks were recorded; call "
                                   "step() or unscale_() before update()")
            if any(checks):
                self._scale = _float32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            elif self._growth_tracker + 1 == self._growth_interval:
                grown = _float32(self._scale * self._growth_factor)
                if grown != float("inf"):
                    self._scale = grown
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
        self._per_optimizer = {}

    def state_dict(self) -> dict:
        """scale, growth_factor, backoff_factor, growth_interval, _growth_tracker (PyTorch's
        keys); empty when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty, maybe "
                               "saved from a disabled scaler")
        self._scale = _float32(float(state_dict["scale"]))
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _unscale_grads(optimizer, inv_scale: float) -> bool:
    """Multiply every gradient by inv_scale; True when any is inf or NaN."""
    bad = {}  # backend -> 0-d bool array: any non-finite so far (one host sync per device)
    for group in optimizer.param_groups:
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            if grad.dtype is _dt.float16:
                raise DTypeError(f"GradScaler: a float16 gradient (parameter of shape "
                                 f"{param.shape}) cannot be unscaled; keep the parameters in "
                                 f"float32 and let autocast cast them")
            # NOTE: out of place: a gradient may be a read-only broadcast view (of a sum's)
            grad.data = grad.data * inv_scale
            grad._version += 1
            xp = grad.backend.xp
            nonfinite = xp.logical_not(xp.all(xp.isfinite(grad.data)))
            previous = bad.get(grad.backend)
            bad[grad.backend] = nonfinite if previous is None else previous | nonfinite
    return any(bool(flag) for flag in bad.values())
