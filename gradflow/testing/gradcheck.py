"""Finite-difference checks of backward rules: gradcheck and gradgradcheck."""

from __future__ import annotations

import warnings

import numpy as np

from gradflow.testing.assertions import to_numpy


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def _outputs(result) -> list:
    from gradflow.tensor import Tensor

    items = result if isinstance(result, (tuple, list)) else (result,)
    return [t for t in items if isinstance(t, Tensor) and t.dtype.is_floating_point]


def _checked_positions(inputs, where: str) -> list[int]:
    """The inputs to differentiate: float tensors with requires_grad. Integer inputs (labels,
    indices) and constants are passed through unchanged; having none to check is a failure."""
    from gradflow.tensor import Tensor

    positions = [k for k, x in enumerate(inputs) if isinstance(x, Tensor)
                 and x.dtype.is_floating_point and x.requires_grad]
    if not positions:
        raise GradcheckError(f"{where}: no input is a floating-point tensor with "
                             "requires_grad=True, so nothing would be checked; pass "
                             "gf.tensor(..., dtype=gf.float64, requires_grad=True)")
    low = [k for k in positions if inputs[k].dtype.name != "float64"]
    if low:
        warnings.warn(f"{where}: input(s) {low} are {inputs[low[0]].dtype.name}, not float64; "
                      "finite differences in low precision may pass or fail spuriously",
                      stacklevel=3)
    return positions


def _float_outputs(result, where: str) -> list:
    outs = _outputs(result)
    if not outs:
        raise GradcheckError(f"{where}: the function returned {type(result).__name__}, not a "
                             "floating-point tensor (or a tuple holding one): nothing to check")
    return outs


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
        inputs: the function's arguments. Float tensors with requires_grad=True are checked
            (float64 recommended: others warn); other inputs (integer labels, constants) are
            passed unchanged. No input to check is a failure, as is an output that is not a
            floating-point tensor.
        eps, atol, rtol: finite-difference step and tolerances (a NaN on either side fails).
        directions: None for every element; an int for that many random directions.

    Returns:
        True when they agree; otherwise raises GradcheckError (or returns False).

    Example:
        >>> x = gf.randn(3, dtype=gf.float64, requires_grad=True)
        >>> gradcheck(lambda t: (t * t).sin(), [x])
        True
    """
    try:
        return _gradcheck(fn, list(inputs), eps, atol, rtol, directions, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False


def _gradcheck(fn, inputs, eps, atol, rtol, directions, seed) -> bool:
    import gradflow as gf

    positions = _checked_positions(inputs, "gradcheck")
    rng = np.random.default_rng(seed)
    with gf.no_grad():
        outs = _float_outputs(fn(*inputs), "gradcheck")
    cotangents = [gf.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device)
                  for o in outs]
    objective = _scalar_objective(fn, inputs, cotangents)
    analytic = [None] * len(inputs)
    if objective.requires_grad:  # else constant in the inputs
        found = gf.grad(objective, [inputs[k] for k in positions], allow_unused=True)
        for k, g in zip(positions, found):
            analytic[k] = g

    def value_at(k: int, array: np.ndarray) -> float:
        trial = list(inputs)
        trial[k] = _tensor_like(array, inputs[k])
        with gf.no_grad():
            return float(_scalar_objective(fn, trial, cotangents).item())

    for k in positions:
        host = to_numpy(inputs[k]).astype(np.float64)
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
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(a - n) <= atol + rtol * np.abs(n))  # NaN on either side is a failure
        if bad.any():
            i = int(np.argmax(np.where(bad, np.nan_to_num(np.abs(a - n), nan=np.inf), -1.0)))
            message = (f"gradcheck: input {k} (shape {tuple(host.shape)}): backward gives "
                       f"{a[i]:.8g} but finite differences give {n[i]:.8g} at position {i} "
                       f"({int(bad.sum())} of {bad.size} disagree)")
            raise GradcheckError(message)
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
    try:
        positions = _checked_positions(inputs, "gradgradcheck")
        rng = np.random.default_rng(seed + 1)
        with gf.no_grad():
            outs = _float_outputs(fn(*inputs), "gradgradcheck")
    except GradcheckError:
        if raise_exception:
            raise
        return False
    cotangents = [gf.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=o.device)
                  for o in outs]

    def first_derivative(*xs):
        with gf.enable_grad():  # gradcheck evaluates this under no_grad
            grads = gf.grad(_scalar_objective(fn, xs, cotangents), [xs[k] for k in positions],
                            create_graph=True, allow_unused=True)
        found = tuple(g for g in grads if g is not None and g.requires_grad)
        # a first derivative that is constant in the inputs has a zero second one
        return found or gf.zeros((), dtype=gf.float64, device=xs[positions[0]].device)

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol,
                     directions=directions, seed=seed, raise_exception=raise_exception)
