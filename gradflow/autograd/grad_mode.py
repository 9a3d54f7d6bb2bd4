"""Thread-local grad mode: no_grad, enable_grad, set_grad_enabled."""

from __future__ import annotations

import functools
import threading
from typing import Any


class _State(threading.local):
    enabled = True   # record graphs
    anomaly = False  # check every output and gradient for NaN/Inf
    backward_of: Any = None  # in anomaly mode: the node whose backward is running
    # {device type: low dtype} of the enclosing gf.autocast regions (gf.amp)
    autocast: dict[str, Any] | None = None


state = _State()


class anomaly_contexts:  # noqa: N801 - read like a module-level value
    """How many detect_anomaly() contexts are open, in any thread. Every op reads this class
    attribute (cheap) and reads the thread-local `state.anomaly` only when it is not 0."""

    users = 0
    lock = threading.Lock()


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return state.enabled


class set_grad_enabled:
    """Turn graph recording on or off, as a call, a context manager or a decorator.

    Args:
        mode: True to record, False not to.

    Example:
        >>> with gf.set_grad_enabled(False):
        ...     y = x * 2   # y.requires_grad is False
    """

    def __init__(self, mode: bool = True):
        self.previous = state.enabled
        self.mode = bool(mode)
        state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.enabled = self.previous
        return False

    def __call__(self, fn):
        mode = self.mode
        state.enabled = self.previous  # used as a decorator: undo the eager switch

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            previous = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = previous

        return wrapper


class no_grad(set_grad_enabled):
    """Run without recording the graph (evaluation, optimizer updates).

    Example:
        >>> p = gf.ones(2, requires_grad=True)
        >>> (p * p).sum().backward()
        >>> with gf.no_grad():
        ...     p -= 0.1 * p.grad
    """

    def __init__(self):
        self.previous = state.enabled
        self.mode = False

    def __enter__(self):
        self.previous = state.enabled
        state.enabled = False
        return self

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            previous = state.enabled
            state.enabled = False
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = previous

        return wrapper


class enable_grad(no_grad):
    """Record the graph again inside a no_grad block.

    Example:
        >>> with gf.no_grad():
        ...     with gf.enable_grad():
        ...         y = x * 2   # recorded
    """

    def __enter__(self):
        self.previous = state.enabled
        state.enabled = True
        return self

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            previous = state.enabled
            state.enabled = True
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = previous

        return wrapper
