"""Layers: Linear, normalisation, Dropout, Flatten, Embedding, Identity and activations.

Each layer checks the shape of its input and raises a ShapeError naming its path
in the model ("Linear 'classifier.2' expects input (..., 128), got (64, 100)").
Layers take `device=` and `dtype=` for their parameters, as PyTorch's do.
"""

from __future__ import annotations

import gradflow as gf
from gradflow.autograd.grad_mode import no_grad
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.module import Module, Parameter
from gradflow.tensor import Tensor


def _empty(*shape, device=None, dtype=None) -> Tensor:
    return gf.zeros(*shape, dtype=dtype or gf.float32, device=device)


class Linear(Module):
    """y = x @ weight.T + bias, on the last dimension.

    Weights start as PyTorch's do: kaiming_uniform_ with a = sqrt(5) on the (out, in)
    weight, and the bias uniform in +-1/sqrt(in_features).

    Args:
        in_features: size of each input's last dimension.
        out_features: size of each output's last dimension.
        bias: whether to add a learned bias.

    Example:
        >>> nn.Linear(4, 3)(gf.randn(2, 4)).shape
        (2, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial values from the global generator."""
        init.default_affine_(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise self.input_shape_error(f"(..., {self.in_features})", x.shape)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d; subclasses say which input ranks they accept."""

    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, device=None,
                 dtype=None, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(gf.ones(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(_empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _empty(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", gf.ones(num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 gf.zeros((), dtype=gf.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            with no_grad():
                self.num_batches_tracked.zero_()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise self.input_shape_error(self.layout.format(C=self.num_features), x.shape)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # NOTE: cumulative moving average over all batches
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over N (and L), per channel C.

    Running statistics (buffers `running_mean`, `running_var`, `num_batches_tracked`)
    are updated in training mode, with the unbiased batch variance, and used in eval.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: weight of each new batch in the running averages; None for a
            cumulative average.
        affine: learn a per-channel scale and shift.
        track_running_stats: keep running statistics (else batch statistics always).
        bias: with affine, whether the shift is learned too (keyword-only, as PyTorch).

    Example:
        >>> nn.BatchNorm1d(3)(gf.randn(8, 3)).shape
        (8, 3)
    """

    ranks = (2, 3)
    layout = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C.

    Args: as BatchNorm1d.

    Example:
        >>> nn.BatchNorm2d(3)(gf.randn(4, 3, 5, 5)).shape
        (4, 3, 5, 5)
    """

    ranks = (4,)
    layout = "(N, {C}, H, W)"


class LayerNorm(Module):
    """Normalise each sample over its trailing `normalized_shape` dimensions.

    Args:
        normalized_shape: an int or a tuple: the trailing shape to normalise over.
        eps: added to the variance.
        elementwise_affine: learn a scale (ones) and a shift (zeros) of that shape.
        bias: whether the affine part has a shift.

    Example:
        >>> nn.LayerNorm(6)(gf.randn(2, 6)).shape
        (2, 6)
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(gf.ones(*self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(_empty(*self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise self.input_shape_error(f"(..., {', '.join(map(str, self.normalized_shape))})",
                                         x.shape)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class Dropout(Module):
    """Zero elements with probability p in training (scaling the rest by 1/(1-p)); identity in eval.

    Example:
        >>> layer = nn.Dropout(0.2).eval()
        >>> bool((layer(gf.ones(3)) == 1.0).all())
        True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = F.dropout_probability(p, "Dropout")
        self.inplace = inplace  # accepted for PyTorch scripts; the result is out of place

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge dimensions start_dim..end_dim into one (by default all but the batch dimension).

    Example:
        >>> nn.Flatten()(gf.zeros(2, 3, 4)).shape
        (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        needed = max(self.start_dim, -self.start_dim - 1, self.end_dim, -self.end_dim - 1) + 1
        if x.ndim < needed:
            raise self.input_shape_error(f"at least {needed} dimensions", x.shape)
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Embedding(Module):
    """A lookup table: integer indices select rows of a (num_embeddings, embedding_dim) weight.

    Args:
        num_embeddings: the number of rows.
        embedding_dim: the size of each row.
        padding_idx: a row initialised to zeros that receives no gradient, or None.

    Example:
        >>> nn.Embedding(10, 4)(gf.tensor([[1, 2, 9]])).shape
        (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 *, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ConfigError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                  f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(_empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, indices: Tensor) -> Tensor:
        if indices.dtype.is_floating_point or indices.dtype.name == "bool":
            from gradflow.errors import DTypeError

            where = f"Embedding '{self.path}'" if self.path else "Embedding"
            raise DTypeError(f"{where} expects integer indices, got {indices.dtype.name}")
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else f"{text}, padding_idx={self.padding_idx}"


class Identity(Module):
    """Returns its input (a placeholder; accepts and ignores any constructor arguments)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class ReLU(Module):
    """max(x, 0). Example: `nn.ReLU()(gf.tensor([-1.0, 1.0]))` gives [0, 1]."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x); approximate="tanh" uses the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """softmax along `dim` (default: the last)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along `dim` (default: the last)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)
