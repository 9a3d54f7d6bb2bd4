"""Convolution and pooling layers (NCHW): Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d.

They hold their arguments and call gradflow.nn.functional_conv; a wrong input shape
raises a ShapeError naming the layer's path in the model.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import functional_conv as FC
from gradflow.nn import init
from gradflow.nn.module import Module, Parameter
from gradflow.tensor import Tensor

_PADDING_MODES = {"zeros": None, "reflect": "reflect", "replicate": "replicate",
                  "circular": "circular"}


def _pair(value, name: str) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ConfigError(f"{name} must be an int or a pair of ints, got {value!r}")
    return items


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) inputs, as torch.nn.Conv2d.

    Weights start as PyTorch's do: kaiming_uniform_ with a = sqrt(5) on the
    (out_channels, in_channels / groups, kH, kW) weight (bound 1 / sqrt(fan_in)), and the
    bias uniform in +-1 / sqrt(fan_in), fan_in = in_channels / groups * kH * kW.

    Args:
        in_channels, out_channels: channel counts (each divisible by groups).
        kernel_size: an int or a pair.
        stride, dilation: an int or a pair.
        padding: an int, a pair, "valid" or "same" (stride 1).
        groups: independent channel groups (in_channels for a depthwise convolution).
        bias: whether to add a learned bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular".

    Example:
        >>> nn.Conv2d(1, 8, 3, padding=1)(gf.randn(2, 1, 28, 28)).shape
        (2, 8, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, device=None, dtype=None):
        super().__init__()
        if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise ConfigError(f"Conv2d: groups must be a positive int, got {groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"Conv2d: in_channels {in_channels} and out_channels "
                              f"{out_channels} must both be divisible by groups {groups}")
        if padding_mode not in _PADDING_MODES:
            raise ConfigError(f"Conv2d: padding_mode must be one of "
                              f"{', '.join(_PADDING_MODES)}, got {padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ConfigError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', "
                              f"got {padding!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size, "Conv2d: kernel_size")
        self.stride = _pair(stride, "Conv2d: stride")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "Conv2d: padding")
        self.dilation = _pair(dilation, "Conv2d: dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        if padding == "same" and self.stride != (1, 1):
            raise ConfigError(f"Conv2d: padding='same' needs stride 1, got {self.stride}")
        dtype = dtype or gf.float32
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(gf.zeros(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(gf.zeros(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial values from the global generator."""
        init.default_affine_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise self.input_shape_error(f"(N, {self.in_channels}, H, W)", x.shape)
        mode = _PADDING_MODES[self.padding_mode]
        if mode is None:
            return FC.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups)
        return FC.conv2d(F.pad(x, self._explicit_padding(), mode=mode), self.weight, self.bias,
                         self.stride, 0, self.dilation, self.groups)

    def _explicit_padding(self) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) for F.pad."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return (total[1] // 2, total[1] - total[1] // 2, total[0] // 2,
                    total[0] - total[0] // 2)
        ph, pw = self.padding
        return (pw, pw, ph, ph)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding!r}" if isinstance(self.padding, str) \
                else f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Pool2d(Module):
    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim not in (3, 4):
            raise self.input_shape_error("(N, C, H, W) or (C, H, W)",
                                         getattr(x, "shape", ()))


class MaxPool2d(_Pool2d):
    """2-D max pooling, as torch.nn.MaxPool2d.

    Args:
        kernel_size: an int or a pair.
        stride: default kernel_size.
        padding: implicit -inf padding, at most half the kernel.
        dilation: spacing of the window's taps.
        return_indices: also return PyTorch-style flat indices of the maxima.
        ceil_mode: round the output size up.

    Example:
        >>> nn.MaxPool2d(2)(gf.randn(2, 3, 8, 8)).shape
        (2, 3, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x: Tensor):
        self._check(x)
        return FC.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                             self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """2-D average pooling, as torch.nn.AvgPool2d.

    Args:
        kernel_size: an int or a pair.
        stride: default kernel_size.
        padding: implicit zero padding, at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count the padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Example:
        >>> nn.AvgPool2d(2)(gf.randn(2, 3, 8, 8)).shape
        (2, 3, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return FC.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(_Pool2d):
    """Average pooling to a fixed output size, as torch.nn.AdaptiveAvgPool2d.

    Args:
        output_size: an int or an (Ho, Wo) pair; None in the pair keeps the input's size.

    Example:
        >>> nn.AdaptiveAvgPool2d(1)(gf.randn(2, 8, 7, 7)).shape
        (2, 8, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return FC.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "Conv2d", "MaxPool2d"]
