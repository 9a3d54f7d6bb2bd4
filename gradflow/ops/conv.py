"""2-D convolution on NCHW tensors: the op behind gradflow.nn.functional.conv2d.

conv2d comes with its adjoints as Functions of their own, so gradients of gradients
flow: its input gradient is a transposed convolution (Conv2dBackwardInput), whose own
gradients are conv2d and the weight gradient (Conv2dBackwardWeight). The arithmetic
lives in the backend kernels (gradflow/backends/kernels/conv.py). Pooling is in
ops/pool.py.
"""

from __future__ import annotations

from gradflow.amp import autocast_inputs
from gradflow.autograd.function import Function
from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.backends.geometry import conv_output_hw
from gradflow.errors import ConfigError, DTypeError, ShapeError
from gradflow.ops._util import pair_of_ints, positive_int
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
    input, weight, bias = autocast_inputs("conv2d", input, weight, bias)
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
    groups = positive_int(groups, "groups", "conv2d")
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
    stride = pair_of_ints(stride, "stride", "conv2d")
    dilation = pair_of_ints(dilation, "dilation", "conv2d")
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
    ph, pw = pair_of_ints(padding, "padding", "conv2d", minimum=0)
    return (ph, ph, pw, pw)
