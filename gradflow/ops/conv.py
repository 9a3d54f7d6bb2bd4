"""Convolution and pooling on NCHW tensors: the ops behind gradflow.nn.functional's
conv2d, max_pool2d and avg_pool2d.

Each op comes with its adjoint as a Function of its own, so gradients of gradients
flow: conv2d's input gradient is a transposed convolution (Conv2dBackwardInput),
whose own gradients are conv2d and the weight gradient (Conv2dBackwardWeight);
max-pooling's gradient scatters to the winning positions and the scatter's gradient
gathers from them; average pooling and its gradient are each other's adjoints.
The arithmetic lives in the backend kernels (gradflow/backends/generic.py).
"""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.backends.geometry import conv_output_hw
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.tensor import Tensor

# -- convolution ----------------------------------------------------------------------


class Conv2d(Function):
    """out = cross-correlation(x, weight) + bias. Saves x and weight, and the im2col
    columns of x when the weight needs a gradient (released after backward)."""

    params = ("stride", "padding", "dilation", "groups", "keep_columns")
    saved = ("columns",)
    grad_reads = ((1,), (0,), ())  # x's gradient reads the weight, the weight's reads x

    def forward(self, x, weight, bias):
        out, self.columns = self.backend.conv2d_forward(
            x, weight, bias, self.stride, self.padding, self.dilation, self.groups,
            self.keep_columns)
        return out

    def backward(self, grad):
        x, weight, _ = self.inputs
        needs = self.needs_input_grad
        geometry = _geometry(self)
        shared = None
        backend = self.backend
        if needs[0] and needs[1] and backend.conv2d_shares_grad_columns(weight.shape,
                                                                      self.groups):
            # both gradients read grad in the same (O, N, Ho, Wq) layout: lay it out once
            pitch = _grad_input_pitch(x.shape, weight.shape, self)
            shared = backend.conv2d_grad_columns(grad.data, pitch, False)
        grad_x = grad_w = grad_b = None
        if needs[0]:
            grad_x = Conv2dBackwardInput.apply(grad, weight, input_shape=x.shape,
                                               grad_columns=shared, **geometry)
        if needs[1]:
            grad_w = Conv2dBackwardWeight.apply(x, grad, weight_shape=weight.shape,
                                                columns=self.columns, grad_columns=shared,
                                                **geometry)
        if needs[2]:
            grad_b = Conv2dBackwardBias.apply(grad)
        return grad_x, grad_w, grad_b

    def release(self) -> None:
        if self.columns is not None:
            self.backend.recycle(self.columns)
        super().release()


class Conv2dBackwardInput(Function):
    """d(loss)/d(x) of conv2d from (grad, weight): linear in each."""

    params = ("input_shape", "stride", "padding", "dilation", "groups", "grad_columns")
    grad_reads = ((1,), (0,))

    def forward(self, grad, weight):
        out = self.backend.conv2d_backward_input(
            grad, weight, self.input_shape, self.stride, self.padding, self.dilation,
            self.groups, self.grad_columns)
        self.grad_columns = None
        return out

    def backward(self, grad_grad_x):
        grad, weight = self.inputs
        needs = self.needs_input_grad
        geometry = _geometry(self)
        d_grad = d_weight = None
        if needs[0]:
            d_grad = Conv2d.apply(grad_grad_x, weight, None, keep_columns=False, **geometry)
        if needs[1]:
            d_weight = Conv2dBackwardWeight.apply(grad_grad_x, grad, weight_shape=weight.shape,
                                                  columns=None, grad_columns=None, **geometry)
        return d_grad, d_weight


class Conv2dBackwardWeight(Function):
    """d(loss)/d(weight) of conv2d from (x, grad): linear in each."""

    params = ("weight_shape", "stride", "padding", "dilation", "groups", "columns",
              "grad_columns")
    grad_reads = ((1,), (0,))

    def forward(self, x, grad):
        out = self.backend.conv2d_backward_weight(
            x, grad, self.weight_shape, self.stride, self.padding, self.dilation, self.groups,
            self.columns, self.grad_columns)
        self.columns = self.grad_columns = None
        return out

    def backward(self, grad_grad_w):
        x, grad = self.inputs
        needs = self.needs_input_grad
        geometry = _geometry(self)
        d_x = d_grad = None
        if needs[0]:
            d_x = Conv2dBackwardInput.apply(grad, grad_grad_w, input_shape=x.shape,
                                            grad_columns=None, **geometry)
        if needs[1]:
            d_grad = Conv2d.apply(x, grad_grad_w, None, keep_columns=False, **geometry)
        return d_x, d_grad


class Conv2dBackwardBias(Function):
    """d(loss)/d(bias) of conv2d: grad (N, O, Ho, Wo) summed to (O,); its adjoint
    broadcasts back."""

    saved = ("grad_shape",)

    def forward(self, grad):
        self.grad_shape = tuple(grad.shape)
        return self.backend.conv2d_backward_bias(grad)

    def backward(self, grad_grad_b):
        from gradflow.ops.shape import broadcast_to, reshape

        return broadcast_to(reshape(grad_grad_b, (1, -1, 1, 1)), self.grad_shape)


def _geometry(node) -> dict:
    return {"stride": node.stride, "padding": node.padding, "dilation": node.dilation,
            "groups": node.groups}


def _grad_input_pitch(input_shape, weight_shape, node) -> int:
    """The row pitch both backward kernels use in channel-major layout (see generic.py)."""
    if node.stride == (1, 1):
        return input_shape[3] + node.padding[2] + node.padding[3]
    return conv_output_hw(input_shape, weight_shape[2:], node.stride, node.padding,
                          node.dilation)[1]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over an NCHW input.

    Args:
        input: (N, C, H, W), or (C, H, W) for one unbatched image.
        weight: (out_channels, C / groups, kH, kW).
        bias: (out_channels,) or None.
        stride: an int or an (sH, sW) pair.
        padding: an int, a pair, "valid" (no padding) or "same" (output as large as the
            input; stride 1 only; for an even kernel the extra row and column go at the
            bottom and right, as in PyTorch).
        dilation: an int or a pair: the spacing between kernel taps.
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, out_channels, Ho, Wo) with Ho = (H + 2 pH - dH (kH - 1) - 1) // sH + 1.

    Example:
        >>> x, w = gf.randn(2, 3, 8, 8), gf.randn(4, 3, 3, 3)
        >>> F.conv2d(x, w, padding=1).shape
        (2, 4, 8, 8)
    """
    for name, value in (("input", input), ("weight", weight)):
        if not isinstance(value, Tensor):
            raise TypeError(f"conv2d: {name} must be a Tensor, got {type(value).__name__}")
    described = f"input of shape {input.shape} and weight of shape {weight.shape}"
    if input.ndim == 3:
        from gradflow.ops.shape import squeeze, unsqueeze

        out = conv2d(unsqueeze(input, 0), weight, bias, stride, padding, dilation, groups)
        return squeeze(out, 0)
    if input.ndim != 4:
        raise ShapeError(f"conv2d: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W); "
                         f"got {described}")
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: expected a 4-D weight (out_channels, in_channels / groups, "
                         f"kH, kW); got {described}")
    groups = _positive_int(groups, "groups", "conv2d")
    out_channels, group_channels, kh, kw = weight.shape
    if out_channels % groups:
        raise ShapeError(f"conv2d: weight of shape {weight.shape} has {out_channels} output "
                         f"channels, not divisible by groups={groups}")
    if input.shape[1] != group_channels * groups:
        raise ShapeError(
            f"conv2d: {described} with groups={groups}: the input should have "
            f"weight.shape[1] * groups = {group_channels * groups} channels, not {input.shape[1]}")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (out_channels,)):
        shape = bias.shape if isinstance(bias, Tensor) else type(bias).__name__
        raise ShapeError(f"conv2d: bias should have shape ({out_channels},) for weight of "
                         f"shape {weight.shape}, got {shape}")
    stride = _pair(stride, "stride", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    padding = _conv_padding(padding, (kh, kw), stride, dilation)
    tensors = (input, weight) if bias is None else (input, weight, bias)
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1 or not input.dtype.is_floating_point:
        names = ", ".join(t.dtype.name for t in tensors)
        raise DTypeError(f"conv2d: input, weight and bias need one floating dtype, got {names}; "
                         f"convert with .to(dtype)")
    h, w = input.shape[2:]
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    padded_h, padded_w = h + padding[0] + padding[1], w + padding[2] + padding[3]
    if span_h > padded_h or span_w > padded_w:
        raise ShapeError(
            f"conv2d: {described}: the kernel spans {span_h}x{span_w} (dilation "
            f"{dilation}), larger than the padded input {padded_h}x{padded_w} (padding "
            f"{padding[0]},{padding[1]},{padding[2]},{padding[3]})")
    keep_columns = weight.requires_grad and _grad_state.enabled
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, keep_columns=keep_columns)


def _conv_padding(padding, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ConfigError(f"conv2d: padding must be an int, a pair, 'valid' or 'same', "
                              f"got {padding!r}")
        if stride != (1, 1):
            raise ConfigError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
        # NOTE: as PyTorch: the total d*(k-1) is split with the odd one at the bottom/right
        total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    ph, pw = _pair(padding, "padding", "conv2d", minimum=0)
    return (ph, ph, pw, pw)


def _pair(value, name: str, op: str, minimum: int = 1) -> tuple[int, int]:
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ConfigError(f"{op}: {name} must be a {kind} int or a pair of them, got {value!r}")
    return items


def _positive_int(value, name: str, op: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{op}: {name} must be a positive int, got {value!r}")
    return value


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


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
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
    sink = [] if return_indices else None
    keep_index = return_indices or (x.requires_grad and _grad_state.enabled)
    out = MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding4, dilation=dilation,
                          index_sink=sink, keep_index=keep_index)
    indices = None
    if return_indices:
        indices = _flat_indices(out.backend, sink[0], x.shape, kernel, stride, padding4,
                                dilation)
    if unbatched:
        from gradflow.ops.shape import squeeze

        out = squeeze(out, 0)
        indices = None if indices is None else squeeze(indices, 0)
    return (out, indices) if return_indices else out


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


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
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
        divisor_override = _positive_int(divisor_override, "divisor_override", "avg_pool2d")
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
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", op)
    pad = _pair(padding, "padding", op, minimum=0)
    dilation = _pair(dilation, "dilation", op)
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
