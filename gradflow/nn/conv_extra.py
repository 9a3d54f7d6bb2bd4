"""Conv1d and the transposed convolutions ConvTranspose1d/2d, as torch.nn has them.

Weights are laid out as PyTorch's ((out, in / groups, k...) for Conv1d, (in, out /
groups, k...) for the transposed ones) and initialised the same way, so state dicts
move between the two frameworks.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.module import Module, Parameter
from gradflow.tensor import Tensor

__all__ = ["Conv1d", "ConvTranspose1d", "ConvTranspose2d"]


def _tuple(value, n: int, name: str) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ConfigError(f"{name} must be an int or {n} ints, got {value!r}")
    return items


class _ConvNd(Module):
    """Shared by Conv1d and the transposed convolutions: arguments, weights, repr."""

    dims = 1
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, *, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ConfigError(f"{name}: in_channels {in_channels} and out_channels "
                              f"{out_channels} must both be divisible by groups {groups}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular") or (
                self.transposed and padding_mode != "zeros"):
            raise ConfigError(f"{name}: padding_mode {padding_mode!r} is not supported")
        n = self.dims
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, n, f"{name}: kernel_size")
        self.stride = _tuple(stride, n, f"{name}: stride")
        if isinstance(padding, str):
            if self.transposed or padding not in ("same", "valid"):
                raise ConfigError(f"{name}: padding {padding!r} is not supported")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, f"{name}: padding")
        self.dilation = _tuple(dilation, n, f"{name}: dilation")
        self.output_padding = _tuple(output_padding, n, f"{name}: output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        dtype = dtype or gf.float32
        self.weight = Parameter(gf.zeros(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(gf.zeros(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial values from the global generator (PyTorch's scheme)."""
        init.default_affine_(self.weight, self.bias)

    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.ndim not in (self.dims + 1, self.dims + 2) \
                or x.shape[-self.dims - 1] != self.in_channels:
            spatial = ", ".join("L" if self.dims == 1 else "HW"[i] for i in range(self.dims))
            raise self.input_shape_error(f"(N, {self.in_channels}, {spatial})",
                                         getattr(x, "shape", ()))

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if isinstance(self.padding, str):
            text += f", padding={self.padding!r}"
        elif any(self.padding):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if any(self.output_padding):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) inputs, as torch.nn.Conv1d.

    Args:
        in_channels, out_channels: channel counts (each divisible by groups).
        kernel_size, stride, dilation: ints.
        padding: an int, "valid" or "same".
        groups: independent channel groups.
        bias: whether to add a learned bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular".

    Example:
        >>> nn.Conv1d(3, 8, 3, padding=1)(gf.randn(2, 3, 10)).shape
        (2, 8, 10)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.padding_mode == "zeros":
            padding = self.padding if isinstance(self.padding, str) else self.padding[0]
            return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                            self.groups)
        if self.padding == "same":
            total = self.dilation[0] * (self.kernel_size[0] - 1)
            widths = (total // 2, total - total // 2)
        else:
            widths = (0, 0) if self.padding == "valid" else (self.padding[0],) * 2
        return F.conv1d(F.pad(x, widths, mode=self.padding_mode), self.weight, self.bias,
                        self.stride, 0, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", *, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device=device, dtype=dtype)

    def _output_padding(self, x: Tensor, output_size) -> tuple[int, ...]:
        """output_padding, or the one that makes the output `output_size` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        wanted = tuple(output_size)[-self.dims:]
        extra = []
        for n, size, s, p, d, k in zip(x.shape[-self.dims:], wanted, self.stride, self.padding,
                                       self.dilation, self.kernel_size):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= size < smallest + s:
                raise ConfigError(f"{type(self).__name__}: output_size {tuple(output_size)} is "
                                  f"not reachable; each size must lie in [{smallest}, "
                                  f"{smallest + s - 1}] for this input")
            extra.append(size - smallest)
        return tuple(extra)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution (the gradient of Conv1d), as torch.nn.ConvTranspose1d.

    Args:
        in_channels, out_channels: channel counts (each divisible by groups).
        kernel_size, stride, padding, output_padding, dilation: ints.
        groups: independent channel groups.
        bias: whether to add a learned bias.

    Example:
        >>> nn.ConvTranspose1d(4, 2, 3, stride=2)(gf.randn(1, 4, 5)).shape
        (1, 2, 11)
    """

    dims = 1

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        self._check(x)
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (the gradient of Conv2d), as torch.nn.ConvTranspose2d.

    Args:
        in_channels, out_channels: channel counts (each divisible by groups).
        kernel_size, stride, padding, output_padding, dilation: an int or a pair.
        groups: independent channel groups.
        bias: whether to add a learned bias.

    Example:
        >>> up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
        >>> up(gf.randn(1, 4, 5, 5)).shape
        (1, 2, 10, 10)
    """

    dims = 2

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        self._check(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)
