"""Anomaly mode: the first NaN or Inf in a forward output or a gradient raises, naming its op."""

from __future__ import annotations

import linecache
import os
import sys

from gradflow.autograd.grad_mode import anomaly_contexts, state
from gradflow.errors import NonFiniteError

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class detect_anomaly:
    """Check every op's output and every gradient; raise NonFiniteError at the first NaN/Inf.

    Example:
        >>> with gf.autograd.detect_anomaly():
        ...     loss.backward()
    """

    def __init__(self, check_nan: bool = True):
        self.enabled = check_nan

    def __enter__(self):
        self.previous = state.anomaly
        state.anomaly = self.enabled
        with anomaly_contexts.lock:
            anomaly_contexts.users += 1
        return self

    def __exit__(self, *exc):
        state.anomaly = self.previous
        with anomaly_contexts.lock:
            anomaly_contexts.users -= 1
        return False


# NOTE: gradflow's training loop counts as the caller's code: under `gradflow train` the
# model is a Sequential and the line that ran it is in train/loop.py (not the console script).
_CALLER_FILES = {os.path.join(_PACKAGE_DIR, "train", name)
                 for name in ("loop.py", "evaluation.py")}


def _is_library(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR) and path not in _CALLER_FILES


def _layer_name(frame) -> str | None:
    """'Linear '3'' when `frame` is a Module's __call__ (read from its locals)."""
    if frame.f_code.co_name != "__call__":
        return None
    module = frame.f_locals.get("self")
    if getattr(module, "_modules", None) is None or not hasattr(module, "forward"):
        return None
    path = getattr(module, "path", "")
    return f"{type(module).__name__} '{path}'" if path else type(module).__name__


def user_frame() -> str:
    """'file:line in function: code' of the innermost caller outside gradflow, and the
    innermost layer running (e.g. "in layer Linear 'features.3'")."""
    frame, layer = sys._getframe(1), None
    while frame is not None:
        layer = layer or _layer_name(frame)
        code = frame.f_code
        if not _is_library(code.co_filename):
            line = linecache.getline(code.co_filename, frame.f_lineno).strip()
            where = f"{code.co_filename}:{frame.f_lineno} in {code.co_name}: {line}"
            return where + (f" (in layer {layer})" if layer else "")
        frame = frame.f_back
    return f"<unknown> (in layer {layer})" if layer else "<unknown>"


def _finite(array, backend) -> bool:
    xp = backend.xp
    if array.dtype not in backend.float_dtypes:
        return True
    return bool(xp.all(xp.isfinite(array)))


def _created_at(node) -> str:
    """The user's line that created the node, when anomaly mode was on at the time."""
    return getattr(node, "trace", None) or "<unknown>"


def check_forward(node, out, args) -> None:
    node.trace = user_frame()
    if not _finite(out.data, out.backend):
        shapes = ", ".join(str(a.shape) for a in args if hasattr(a, "shape"))
        during = state.backward_of
        where = (f"the backward of {during.name} (created at {_created_at(during)})"
                 if during is not None else node.trace)
        raise NonFiniteError(
            f"anomaly: {node.name} produced NaN or Inf in its output of shape {out.shape} "
            f"(inputs {shapes}), in {where}"
        )


def check_backward(node, grads) -> None:
    for position, g in enumerate(grads):
        if g is not None and not _finite(g.data, g.backend):
            raise NonFiniteError(
                f"anomaly: the backward of {node.name} gave NaN or Inf in the gradient of input "
                f"{position} (shape {g.shape}); the op was created at {_created_at(node)}"
            )
