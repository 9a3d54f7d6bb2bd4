"""Pooling layers beyond MaxPool2d/AvgPool2d/AdaptiveAvgPool2d: the 1-D ones, adaptive max
pooling and max unpooling, as torch.nn has them."""

from __future__ import annotations

from gradflow.nn import functional as F
from gradflow.nn.module import Module
from gradflow.tensor import Tensor

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "MaxPool1d",
    "MaxUnpool1d", "MaxUnpool2d",
]


class _Pool(Module):
    """Holds named settings, shows them in repr."""

    settings: tuple[str, ...] = ()

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.settings)


class MaxPool1d(_Pool):
    """1-D max pooling over (N, C, L), as torch.nn.MaxPool1d.

    Example:
        >>> nn.MaxPool1d(2)(gf.randn(2, 3, 8)).shape
        (2, 3, 4)
    """

    settings = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


def _single(value) -> tuple[int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


class AvgPool1d(_Pool):
    """1-D average pooling over (N, C, L), as torch.nn.AvgPool1d.

    Example:
        >>> nn.AvgPool1d(2)(gf.randn(2, 3, 8)).shape
        (2, 3, 4)
    """

    settings = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AdaptiveAvgPool1d(_Pool):
    """Average pooling of (N, C, L) to a fixed length. Example: `nn.AdaptiveAvgPool1d(4)`."""

    settings = ("output_size",)

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveMaxPool1d(_Pool):
    """Max pooling of (N, C, L) to a fixed length. Example: `nn.AdaptiveMaxPool1d(4)`."""

    settings = ("output_size",)

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x: Tensor):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(AdaptiveMaxPool1d):
    """Max pooling of (N, C, H, W) to a fixed size, as torch.nn.AdaptiveMaxPool2d.

    Example:
        >>> nn.AdaptiveMaxPool2d((2, 3))(gf.randn(1, 4, 7, 7)).shape
        (1, 4, 2, 3)
    """

    def forward(self, x: Tensor):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class MaxUnpool2d(_Pool):
    """Partial inverse of MaxPool2d: values back at their indices, zeros elsewhere.

    Example:
        >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        >>> out, indices = pool(gf.randn(1, 1, 4, 4))
        >>> unpool(out, indices).shape
        (1, 1, 4, 4)
    """

    settings = ("kernel_size", "stride", "padding")
    _function = staticmethod(F.max_unpool2d)
    _tuple = staticmethod(_pair)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = self._tuple(kernel_size)
        self.stride = self._tuple(stride if stride is not None else kernel_size)
        self.padding = self._tuple(padding)

    def forward(self, x: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return type(self)._function(x, indices, self.kernel_size, self.stride, self.padding,
                                    output_size)


class MaxUnpool1d(MaxUnpool2d):
    """Partial inverse of MaxPool1d. Example: `nn.MaxUnpool1d(2)(out, indices)`."""

    _function = staticmethod(F.max_unpool1d)
    _tuple = staticmethod(_single)
