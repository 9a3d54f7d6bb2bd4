"""2-D max and average pooling on NCHW tensors: the ops behind gradflow.nn.functional's
max_pool2d and avg_pool2d.

Max-pooling's gradient scatters to the winning positions and the scatter's gradient
gathers from them; average pooling and its gradient are each other's adjoints. The
arithmetic lives in the backend kernels (gradflow/backends/kernels/pool.py).
"""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.ops._util import Ints, pair_of_ints, positive_int
from gradflow.tensor import Tensor

# -- max pooling ------------------------------------------------------------------------


class MaxPool2d(Function):
    """Window maxima; saves the winning offset of each window (not the input).
    `index_sink`, a list or None, receives the offsets (for return_indices)."""

    params = ("kernel", "stride", "padding", "dilation", "index_sink", "keep_index")
    saved = ("index", "input_shape")

    def forward(self, x):
        if not self.keep_index:  # no gradient and no indices wanted: the maxima alone
            return self.backend.max_pool2d_values(x, self.kernel, self.stride, self.padding,
                                                  self.dilation)
        out, self.index = self.backend.max_pool2d_forward(
            x, self.kernel, self.stride, self.padding, self.dilation)
        self.input_shape = tuple(x.shape)
        if self.index_sink is not None:
            self.index_sink.append(self.index)
        return out

    def backward(self, grad):
        return MaxPool2dScatter.apply(grad, **_pool_geometry(self))


class MaxPool2dScatter(Function):
    """max_pool2d's gradient: each window's gradient goes to its winner."""

    params = ("index", "input_shape", "kernel", "stride", "padding", "dilation")

    def forward(self, grad):
        return self.backend.max_pool2d_backward(grad, self.index, self.input_shape, self.kernel,
                                                self.stride, self.padding, self.dilation)

    def backward(self, grad_grad):
        return MaxPool2dGather.apply(grad_grad, **_pool_geometry(self))


class MaxPool2dGather(Function):
    """The adjoint of the scatter: the value at each window's winner."""

    params = MaxPool2dScatter.params

    def forward(self, values):
        return self.backend.max_pool2d_gather(values, self.index, self.kernel, self.stride,
                                              self.padding, self.dilation)

    def backward(self, grad):
        return MaxPool2dScatter.apply(grad, **_pool_geometry(self))


def _pool_geometry(node) -> dict:
    return {"index": node.index, "input_shape": node.input_shape, "kernel": node.kernel,
            "stride": node.stride, "padding": node.padding, "dilation": node.dilation}


def max_pool2d(input: Tensor, kernel_size, stride=None, padding: Ints = 0, dilation: Ints = 1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling over an NCHW input, padding with -inf.

    Args:
        input: (N, C, H, W), or (C, H, W).
        kernel_size: an int or a pair.
        stride: an int or a pair (default: kernel_size).
        padding: an int or a pair, at most half the (dilated) kernel.
        dilation: an int or a pair.
        ceil_mode: round the output size up, so windows may hang over the bottom/right.
        return_indices: also return, for each output, the flat index h * W + w of the
            maximum in its input plane (as PyTorch).

    Returns:
        (N, C, Ho, Wo), and the int64 indices when asked for. A tie goes to the first
        maximum in the window (row-major), which alone gets the gradient.

    Example:
        >>> F.max_pool2d(gf.randn(2, 3, 8, 8), 2).shape
        (2, 3, 4, 4)
    """
    x, unbatched = _pool_input(input, "max_pool2d")
    kernel, stride, pad, dilation = _pool_args("max_pool2d", kernel_size, stride, padding,
                                               dilation)
    padding4, _ = _pool_geometry_of("max_pool2d", x.shape, kernel, stride, pad, dilation,
                                         ceil_mode)
    sink: list = []
    keep_index = return_indices or (x.requires_grad and _grad_state.enabled)
    out = MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding4, dilation=dilation,
                          index_sink=sink if return_indices else None, keep_index=keep_index)
    indices = None
    if return_indices:
        indices = _flat_indices(out.backend, sink[0], x.shape, kernel, stride, padding4,
                                dilation)
    if unbatched:
        from gradflow.ops.shape import squeeze

        out = squeeze(out, 0)
        indices = None if indices is None else squeeze(indices, 0)
    return out if indices is None else (out, indices)


def _flat_indices(backend, index, input_shape, kernel, stride, padding, dilation) -> Tensor:
    """PyTorch's max-pool indices, h * W + w, from the winning kernel offsets."""
    xp = backend.xp
    device = backend.device
    offset = xp.astype(index, xp.int64)
    ho, wo = index.shape[2:]
    rows = (xp.reshape(xp.arange(ho, dtype=xp.int64, device=device), (ho, 1)) * stride[0]
            - padding[0] + (offset // kernel[1]) * dilation[0])
    cols = (xp.reshape(xp.arange(wo, dtype=xp.int64, device=device), (1, wo)) * stride[1]
            - padding[2] + (offset % kernel[1]) * dilation[1])
    return Tensor._wrap(rows * input_shape[3] + cols, backend)


# -- average pooling ----------------------------------------------------------------------


class AvgPool2d(Function):
    """Window means (linear: nothing saved but the geometry)."""

    params = ("kernel", "stride", "padding", "divisors")
    saved = ("input_shape",)

    def forward(self, x):
        self.input_shape = tuple(x.shape)
        return self.backend.avg_pool2d_forward(x, self.kernel, self.stride, self.padding,
                                               _divisor(self, x.dtype))

    def backward(self, grad):
        return AvgPool2dBackward.apply(grad, **_avg_geometry(self))


class AvgPool2dBackward(Function):
    """avg_pool2d's gradient: each window's gradient / divisor spread over the window."""

    params = ("input_shape", "kernel", "stride", "padding", "divisors")

    def forward(self, grad):
        return self.backend.avg_pool2d_backward(grad, self.input_shape, self.kernel, self.stride,
                                                self.padding, _divisor(self, grad.dtype))

    def backward(self, grad_grad):
        params = _avg_geometry(self)
        del params["input_shape"]
        return AvgPool2d.apply(grad_grad, **params)


def _avg_geometry(node) -> dict:
    return {"input_shape": node.input_shape, "kernel": node.kernel, "stride": node.stride,
            "padding": node.padding, "divisors": node.divisors}


def _divisor(node, dtype):
    """A float when every window has the same divisor, else an (Ho, Wo) array."""
    rows, cols = node.divisors
    if len(set(rows)) == 1 and len(set(cols)) == 1:
        return float(rows[0] * cols[0])
    xp = node.backend.xp
    table = [[float(r * c) for c in cols] for r in rows]
    return xp.asarray(table, dtype=dtype, device=node.backend.device)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding: Ints = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over an NCHW input, with PyTorch's arguments and divisors.

    Args:
        input: (N, C, H, W), or (C, H, W).
        kernel_size: an int or a pair.
        stride: an int or a pair (default: kernel_size).
        padding: an int or a pair (zeros), at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window's sum by this instead.

    Returns:
        (N, C, Ho, Wo).

    Example:
        >>> F.avg_pool2d(gf.ones(1, 1, 4, 4), 2).tolist()
        [[[[1.0, 1.0], [1.0, 1.0]]]]
    """
    x, unbatched = _pool_input(input, "avg_pool2d")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"avg_pool2d: needs a floating-point input, got {x.dtype.name}")
    kernel, stride, pad, _ = _pool_args("avg_pool2d", kernel_size, stride, padding, 1)
    padding4, out_hw = _pool_geometry_of("avg_pool2d", x.shape, kernel, stride, pad, (1, 1),
                                         ceil_mode)
    if divisor_override is not None:
        divisor_override = positive_int(divisor_override, "divisor_override", "avg_pool2d")
        divisors = ((divisor_override,), (1,))
    else:
        divisors = tuple(
            _window_counts(size, k, s, p, n, count_include_pad)
            for size, k, s, p, n in zip(x.shape[2:], kernel, stride, pad, out_hw))
    out = AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding4, divisors=divisors)
    if unbatched:
        from gradflow.ops.shape import squeeze

        out = squeeze(out, 0)
    return out


def _window_counts(size: int, kernel: int, stride: int, pad: int, out: int,
                   include_pad: bool) -> tuple[int, ...]:
    """PyTorch's divisor along one axis: the window clipped to the padded input (or, without
    count_include_pad, to the input)."""
    counts = []
    for o in range(out):
        start = o * stride - pad
        end = min(start + kernel, size + pad)
        if not include_pad:
            start, end = max(start, 0), min(end, size)
        counts.append(end - start)
    return tuple(counts)


# -- shared pooling arguments ------------------------------------------------------------


def _pool_input(x, op: str):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim == 3:
        from gradflow.ops.shape import unsqueeze

        return unsqueeze(x, 0), True
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {x.shape}")
    return x, False


def _pool_args(op, kernel_size, stride, padding, dilation):
    kernel = pair_of_ints(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else pair_of_ints(stride, "stride", op)
    pad = pair_of_ints(padding, "padding", op, minimum=0)
    dilation = pair_of_ints(dilation, "dilation", op)
    for p, k, d in zip(pad, kernel, dilation):
        if 2 * p > d * (k - 1) + 1:
            raise ConfigError(f"{op}: padding {pad} must be at most half the kernel size "
                              f"{kernel} (dilation {dilation})")
    return kernel, stride, pad, dilation


def _pool_geometry_of(op, shape, kernel, stride, pad, dilation, ceil_mode):
    """((top, bottom, left, right) with ceil_mode's overhang added, (Ho, Wo))."""
    out_hw, extra = [], []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, pad, dilation):
        span = size + 2 * p - d * (k - 1) - 1
        if ceil_mode:
            out = -(-span // s) + 1
            if (out - 1) * s >= size + p:  # NOTE: the last window must start inside
                out -= 1
        else:
            out = span // s + 1
        if span < 0 or out < 1:
            raise ShapeError(f"{op}: input of shape {shape} is too small for kernel {kernel} "
                             f"(stride {stride}, padding {pad}, dilation {dilation})")
        out_hw.append(out)
        extra.append(max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p)))
    padding4 = (pad[0], pad[0] + extra[0], pad[1], pad[1] + extra[1])
    return padding4, tuple(out_hw)
