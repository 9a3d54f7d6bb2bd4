"""The autograd engine: grad mode, the Function base class, backward and grad.

Names are loaded on first use: tensor.py needs grad_mode before the engine
(which needs Tensor) can be imported.
"""

from gradflow.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

_LAZY = {
    "Function": "gradflow.autograd.function",
    "run_backward": "gradflow.autograd.engine",
    "grad": "gradflow.autograd.grad",
    "detect_anomaly": "gradflow.autograd.anomaly",
}

__all__ = ["Function", "detect_anomaly", "enable_grad", "grad", "is_grad_enabled", "no_grad",
           "run_backward", "set_grad_enabled"]


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradflow.autograd' has no attribute {name!r}")
