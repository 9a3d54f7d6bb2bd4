"""Finite-difference checks of backward rules: gradcheck and gradgradcheck."""

from __future__ import annotations

import numpy as np

from gradflow.testing.assertions import to_numpy


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def _outputs(result) -> list:
    from gradflow.tensor import Tensor

    items = result if isinstance(result, (tuple, list)) else (result,)
    return [t for t in items if isinstance(t, Tensor) and t.dtype.is_floating_point]


def _tensor_like(array: np.ndarray, like):
    import gradflow as gf

    return gf.tensor(array, dtype=like.dtype, device=like.device, requires_grad=True)


def _scalar_objective(fn, inputs, cotangents):
    """<cotangents, fn(*inputs)> as a 0-d tensor."""
    import gradflow as gf

    outs = _outputs(fn(*inputs))
    total = None
    for out, v in zip(outs, cotangents):
        term = (out * v).sum()
        total = term if total is None else total + term
    return total if total is not None else gf.zeros((), dtype=gf.float64)


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
              directions: int | None = None, seed: int = 0, raise_exception: bool = True) -> bool:
    """Compare backward() with central finite differences, in float64.

    The check is on vector-Jacobian products: a fixed random cotangent `v` is
    drawn for each output and d<v, fn(x)>/dx from backward is compared with the
    numerical derivative, element by element (or, with `directions=k`, along k
    random directions, for large inputs).

    Args:
        fn: a function of tensors returning a tensor (or a tuple of them).
        inputs: the tensors to differentiate (requires_grad=True, float64 recommended).
        eps, atol, rtol: finite-difference step and tolerances.
        directions: None for every element; an int for that many random directions.

    Returns:
        True when they agree; otherwise raises GradcheckError (or returns False).

    Example:
        >>> x = gf.randn(3, dtype=gf.float64, requires_grad=True)
        >>> gradcheck(lambda t: (t * t).sin(), [x])
        True
    """
    import gradflow as gf

    inputs = list(inputs)
    rng = np.random.default_rng(seed)
    with gf.no_grad():
        outs = _outputs(fn(*inputs))
    cotangents = [gf.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device)
                  for o in outs]
    objective = _scalar_objective(fn, inputs, cotangents)
    if objective is None or not objective.requires_grad:  # constant in the inputs
        analytic = [None] * len(inputs)
    else:
        analytic = gf.grad(objective, inputs, allow_unused=True)
    hosts = [to_numpy(x).astype(np.float64) for x in inputs]

    def value_at(k: int, array: np.ndarray) -> float:
        trial = list(inputs)
        trial[k] = _tensor_like(array, inputs[k])
        with gf.no_grad():
            return float(_scalar_objective(fn, trial, cotangents).item())

    for k, (x, host) in enumerate(zip(inputs, hosts)):
        exact = np.zeros(host.shape) if analytic[k] is None else to_numpy(analytic[k])
        if directions is None:
            numeric = np.zeros(host.shape)
            flat = host.reshape(-1)
            for i in range(flat.size):
                plus, minus = flat.copy(), flat.copy()
                plus[i] += eps
                minus[i] -= eps
                numeric.reshape(-1)[i] = (value_at(k, plus.reshape(host.shape))
                                          - value_at(k, minus.reshape(host.shape))) / (2 * eps)
            pairs = (exact.reshape(-1), numeric.reshape(-1))
        else:
            u = rng.standard_normal((directions, *host.shape))
            numeric = np.array([(value_at(k, host + eps * d) - value_at(k, host - eps * d))
                                / (2 * eps) for d in u])
            pairs = (np.tensordot(u, exact, axes=exact.ndim), numeric)
        a, n = pairs
        bad = np.abs(a - n) > atol + rtol * np.abs(n)
        if bad.any():
            i = int(np.argmax(np.abs(a - n)))
            message = (f"gradcheck: input {k} (shape {tuple(host.shape)}): backward gives {a[i]:.8g}"
                       f" but finite differences give {n[i]:.8g} at position {i} "
                       f"({int(bad.sum())} of {bad.size} disagree)")
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
                  directions: int | None = None, seed: int = 0,
                  raise_exception: bool = True) -> bool:
    """gradcheck of the gradient itself: checks backward(create_graph=True).

    Example:
        >>> x = gf.randn(3, dtype=gf.float64, requires_grad=True)
        >>> gradgradcheck(lambda t: t.tanh(), [x])
        True
    """
    import gradflow as gf

    inputs = list(inputs)
    rng = np.random.default_rng(seed + 1)
    with gf.no_grad():
        outs = _outputs(fn(*inputs))
    cotangents = [gf.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device)
                  for o in outs]

    def first_derivative(*xs):
        with gf.enable_grad():  # gradcheck evaluates this under no_grad
            grads = gf.grad(_scalar_objective(fn, xs, cotangents), xs, create_graph=True,
                            allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol,
                     directions=directions, seed=seed, raise_exception=raise_exception)
