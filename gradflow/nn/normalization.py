"""GroupNorm, InstanceNorm1d/2d and channel-wise Dropout1d/2d, as torch.nn has them."""

from __future__ import annotations

import gradflow as gf
from gradflow.autograd.grad_mode import no_grad
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.module import Module, Parameter
from gradflow.tensor import Tensor

__all__ = ["Dropout1d", "Dropout2d", "Dropout3d", "GroupNorm", "InstanceNorm1d",
           "InstanceNorm2d"]


def _affine_parameters(module: Module, channels: int, affine: bool, bias: bool, device,
                       dtype) -> None:
    """A per-channel scale (ones) and shift (zeros), or None for each left out."""
    module.register_parameter("weight", Parameter(gf.ones(channels, dtype=dtype, device=device))
                              if affine else None)
    module.register_parameter("bias", Parameter(gf.zeros(channels, dtype=dtype, device=device))
                              if affine and bias else None)


class GroupNorm(Module):
    """Normalise each sample over groups of channels, as torch.nn.GroupNorm.

    Args:
        num_groups: G, dividing num_channels.
        num_channels: C.
        eps: added to the variance.
        affine: learn a per-channel scale (ones) and shift (zeros).
        bias: with affine, whether the shift is learned (keyword-only, as PyTorch).

    Example:
        >>> nn.GroupNorm(2, 6)(gf.randn(3, 6, 4)).shape
        (3, 6, 4)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, device=None, dtype=None, bias: bool = True):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ConfigError(f"GroupNorm: num_channels {num_channels} must be divisible by "
                              f"num_groups {num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups, num_channels, eps, affine)
        _affine_parameters(self, num_channels, affine, bias, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise self.input_shape_error(f"(N, {self.num_channels}, *)", x.shape)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, *, device=None,
                 dtype=None, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_parameters(self, num_features, affine, bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", gf.zeros(num_features, dtype=dtype,
                                                          device=device))
            self.register_buffer("running_var", gf.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", gf.zeros((), dtype=gf.int64,
                                                                 device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            with no_grad():
                self.num_batches_tracked.zero_()

    def forward(self, x: Tensor) -> Tensor:
        rank = self.spatial + 2
        if x.ndim not in (rank - 1, rank) or x.shape[-self.spatial - 1] != self.num_features:
            spatial = "L" if self.spatial == 1 else "H, W"
            raise self.input_shape_error(f"(N, {self.num_features}, {spatial})", x.shape)
        if x.ndim == rank - 1:
            return self.forward(x.unsqueeze(0)).squeeze(0)
        use_input_stats = self.training or not self.track_running_stats
        # NOTE: as PyTorch: num_batches_tracked stays 0 and momentum=None means 0 (the running
        # statistics keep their values), unlike BatchNorm's cumulative average
        momentum = 0.0 if self.momentum is None else self.momentum
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               use_input_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalise each channel of each (N, C, L) sample over L, as torch.nn.InstanceNorm1d.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of new statistics in the running averages (None: 0, as PyTorch).
        affine: learn a per-channel scale and shift.
        track_running_stats: keep running statistics and use them in eval mode.

    Example:
        >>> nn.InstanceNorm1d(3)(gf.randn(2, 3, 5)).shape
        (2, 3, 5)
    """

    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Normalise each channel of each (N, C, H, W) sample over H and W.

    Example:
        >>> nn.InstanceNorm2d(3, affine=True)(gf.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    spatial = 2


class _DropoutNd(Module):
    function = None

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{type(self).__name__}: p must lie in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) in training. Example: `nn.Dropout1d(0.2)`."""

    function = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) in training. Example: `nn.Dropout2d(0.2)`."""

    function = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) in training."""

    function = staticmethod(F.dropout3d)
