"""Activation layers beyond ReLU/GELU/Sigmoid/Tanh, as torch.nn has them.

Each holds its settings and calls the function of the same name in
gradflow.nn.functional. `inplace=True` is accepted for PyTorch scripts and
computes the same values out of place (gradflow never overwrites a layer's input).
"""

from __future__ import annotations

from collections.abc import Callable

import gradflow as gf
from gradflow.nn import functional_activation as FA
from gradflow.nn.module import Module, Parameter
from gradflow.tensor import Tensor

__all__ = [
    "CELU",
    "ELU",
    "GLU",
    "SELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LogSigmoid",
    "Mish",
    "PReLU",
    "ReLU6",
    "SiLU",
    "Softmin",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "Threshold",
]


class _Activation(Module):
    """An elementwise layer: `function(x, *settings)`; the settings show in repr."""

    function: Callable[..., Tensor]  # each layer's F function (a staticmethod)
    settings: tuple[str, ...] = ()

    def __init__(self, *values, inplace: bool = False):
        super().__init__()
        for name, value in zip(self.settings, values):
            setattr(self, name, value)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, *(getattr(self, name) for name in self.settings))

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.settings)


class SiLU(_Activation):
    """x * sigmoid(x). Example: `nn.SiLU()(gf.randn(2, 3))`."""

    function = staticmethod(FA.silu)


class ELU(_Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. Example: `nn.ELU(alpha=0.5)`."""

    function = staticmethod(FA.elu)
    settings = ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha, inplace=inplace)


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). Example: `nn.CELU(alpha=2.0)`."""

    function = staticmethod(FA.celu)


class SELU(_Activation):
    """Self-normalising ELU with PyTorch's fixed alpha and scale. Example: `nn.SELU()`."""

    function = staticmethod(FA.selu)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class Softplus(_Activation):
    """log(1 + exp(beta x)) / beta, linear above `threshold`. Example: `nn.Softplus(beta=2)`."""

    function = staticmethod(FA.softplus)
    settings = ("beta", "threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__(beta, threshold)


class Softsign(_Activation):
    """x / (1 + |x|)."""

    function = staticmethod(FA.softsign)


class Hardtanh(_Activation):
    """x clipped to [min_val, max_val]. Example: `nn.Hardtanh(-2.0, 2.0)`."""

    function = staticmethod(FA.hardtanh)
    settings = ("min_val", "max_val")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(min_val, max_val, inplace=inplace)


class ReLU6(_Activation):
    """min(max(x, 0), 6)."""

    function = staticmethod(FA.relu6)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class Hardsigmoid(ReLU6):
    """Piecewise-linear sigmoid: clip(x / 6 + 1 / 2, 0, 1)."""

    function = staticmethod(FA.hardsigmoid)


class Hardswish(ReLU6):
    """x * hardsigmoid(x)."""

    function = staticmethod(FA.hardswish)


class Mish(ReLU6):
    """x * tanh(softplus(x))."""

    function = staticmethod(FA.mish)


class LogSigmoid(_Activation):
    """log(sigmoid(x)), stable for large |x|."""

    function = staticmethod(FA.logsigmoid)


class Tanhshrink(_Activation):
    """x - tanh(x)."""

    function = staticmethod(FA.tanhshrink)


class Softmin(_Activation):
    """softmax(-x) along `dim`; dim=None picks PyTorch's legacy choice (0 for 0-, 1- and
    3-D inputs, else 1). Example: `nn.Softmin(dim=1)`."""

    settings = ("dim",)

    def __init__(self, dim: int | None = None):
        super().__init__(dim)

    def forward(self, x: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
        return FA.softmin(x, dim)


class GLU(_Activation):
    """a * sigmoid(b) for the two halves of the input along `dim`. Example: `nn.GLU()`."""

    function = staticmethod(FA.glu)
    settings = ("dim",)

    def __init__(self, dim: int = -1):
        super().__init__(dim)


class Threshold(_Activation):
    """x where x > threshold, else value. Example: `nn.Threshold(0.1, 20.0)`."""

    function = staticmethod(FA.threshold)
    settings = ("threshold", "value")

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(threshold, value, inplace=inplace)


class PReLU(Module):
    """x for x > 0, a * x otherwise, with a learned slope a (one, or one per channel).

    Args:
        num_parameters: 1, or the number of channels (dimension 1 of the input).
        init: the initial slope.

    Example:
        >>> nn.PReLU(3)(gf.randn(2, 3, 4)).shape
        (2, 3, 4)
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(gf.full((num_parameters,), float(init),
                                        dtype=dtype or gf.float32, device=device))

    def forward(self, x: Tensor) -> Tensor:
        return FA.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
