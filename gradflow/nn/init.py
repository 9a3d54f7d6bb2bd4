"""Parameter initialisation, in place, from gradflow's counter-based generator.

Every function fills the tensor on its own device without recording a graph.
Because the draws are bit-identical on every backend, the same seed builds the
same model on "cpu" and "strict:device1".
"""

from __future__ import annotations

import math

from gradflow import dtypes as _dt
from gradflow import random as _random
from gradflow.autograd.grad_mode import no_grad
from gradflow.errors import ConfigError, ShapeError
from gradflow.tensor import Tensor

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale of weights feeding `nonlinearity`.

    Args:
        nonlinearity: "linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu" or "selu".
        param: the negative slope for "leaky_relu" (default 0.01).

    Returns:
        The gain, a float.

    Example:
        >>> nn.init.calculate_gain("relu")
        1.4142135623730951
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ConfigError(f"calculate_gain: negative slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1.0 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ConfigError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ShapeError(f"fan in and fan out need a tensor of at least 2 dimensions, "
                         f"got shape {tensor.shape}")
    receptive = 1
    for size in tensor.shape[2:]:
        receptive *= size
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _draw_dtype(tensor: Tensor):
    backend = tensor.backend
    wide = tensor.dtype is _dt.float64 and _dt.float64 in backend.to_xp
    return backend.xp_dtype(_dt.float64 if wide else _dt.float32)


def _fill(tensor: Tensor, array) -> Tensor:
    with no_grad():
        tensor.copy_(Tensor._wrap(array, tensor.backend))
    return tensor


def _generator(generator):
    return _random.default_generator if generator is None else generator


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn uniformly from [a, b).

    Args:
        tensor: the tensor to fill in place.
        a, b: the bounds.
        generator: a gf.Generator (default: the global one).

    Returns:
        `tensor`.

    Example:
        >>> nn.init.uniform_(gf.empty(3, 5), -0.1, 0.1).shape
        (3, 5)
    """
    a, b = float(a), float(b)
    if a == b:
        return constant_(tensor, a)
    backend = tensor.backend
    values = _generator(generator).uniform(tensor.shape, backend.xp, backend.device,
                                           _draw_dtype(tensor), a, b)
    return _fill(tensor, values)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn from N(mean, std**2).

    Example:
        >>> nn.init.normal_(gf.empty(3, 5), std=0.02).shape
        (3, 5)
    """
    backend = tensor.backend
    values = _generator(generator).normal(tensor.shape, backend.xp, backend.device,
                                          _draw_dtype(tensor), float(mean), float(std))
    return _fill(tensor, values)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with `val`.

    Example:
        >>> nn.init.constant_(gf.empty(2), 0.5).tolist()
        [0.5, 0.5]
    """
    with no_grad():
        tensor.fill_(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)).

    Example:
        >>> w = nn.init.xavier_uniform_(gf.empty(4, 6))
    """
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std**2), std = gain * sqrt(2 / (fan_in + fan_out)).

    Example:
        >>> w = nn.init.xavier_normal_(gf.empty(4, 6))
    """
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ShapeError(f"kaiming init: a tensor of shape {tensor.shape} has zero fan")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan).

    Args:
        tensor: a weight of at least 2 dimensions, (out, in, *kernel).
        a: the negative slope of the leaky_relu that follows.
        mode: "fan_in" (keeps forward variance) or "fan_out" (backward variance).
        nonlinearity: as in calculate_gain.
        generator: a gf.Generator (default: the global one).

    Returns:
        `tensor`.

    Example:
        >>> w = nn.init.kaiming_uniform_(gf.empty(8, 4), a=math.sqrt(5))
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He normal: N(0, std**2), std = gain / sqrt(fan).

    Example:
        >>> w = nn.init.kaiming_normal_(gf.empty(8, 4), nonlinearity="relu")
    """
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def default_affine_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default initialisation of Linear and Conv2d: kaiming-uniform weights
    with a = sqrt(5), and a bias uniform in +-1/sqrt(fan_in)."""
    kaiming_uniform_(weight, a=math.sqrt(5.0))
    if bias is not None:
        fan_in, _ = _fans(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


__all__ = ["calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_",
           "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]
