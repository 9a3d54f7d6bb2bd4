"""The generic backend: every kernel written once with standard array-API calls.

Subclasses (numpy.py, cupy.py) override only the kernels they make faster and
are tested against these versions; they never change results beyond rounding.
"""

from __future__ import annotations

import math

import numpy as np

from gradflow import dtypes as _dt
from gradflow.errors import DTypeError

# Backend code may use NumPy for host transfers (docs/design.md, contract 1).


class Backend:
    """An array namespace on one device, plus kernels.

    Attributes:
        name: canonical device name ("cpu", "strict:device1", "cuda:0").
        xp: the array-API namespace.
        device: the namespace's device object, passed to creation functions.
    """

    inplace = True  # arrays accept in-place updates (x[...] = v, x += v)

    def __init__(self, name: str, xp, device):
        self.name = name
        self.xp = xp
        self.device = device
        self.to_xp: dict[_dt.DType, object] = {}
        self.from_xp: dict[object, _dt.DType] = {}
        for dtype in _dt.ALL:
            xp_dtype = getattr(xp, dtype.name, None)
            if xp_dtype is None:
                continue
            try:
                probe = xp.zeros((1,), dtype=xp_dtype, device=device)
            except Exception:  # the device lacks it (strict:no_float64)
                continue
            self.to_xp[dtype] = xp_dtype
            self.from_xp[probe.dtype] = dtype
        self.default_float = _dt.float32
        self.float_dtypes = frozenset(
            xp_dtype for xp_dtype, dtype in self.from_xp.items() if dtype.is_floating_point
        )
        self.index_dtype = self.to_xp.get(_dt.int64, xp.int32 if hasattr(xp, "int32") else None)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    # -- dtypes and transfers -------------------------------------------------

    def xp_dtype(self, dtype: _dt.DType):
        """The namespace's dtype for a gradflow dtype, or a DTypeError naming the device."""
        try:
            return self.to_xp[dtype]
        except KeyError:
            if isinstance(dtype, str):
                return self.xp_dtype(_dt.by_name(dtype))
            if not isinstance(dtype, _dt.DType):
                raise DTypeError(f"expected a gradflow dtype such as gf.float32, got {dtype!r}") from None
            have = ", ".join(d.name for d in self.to_xp)
            raise DTypeError(
                f"device {self.name!r} has no {dtype.name}; it supports {have}"
            ) from None

    def dtype_of(self, array) -> _dt.DType:
        return self.from_xp[array.dtype]

    def from_host(self, host: np.ndarray, dtype: _dt.DType | None = None):
        """Copy a NumPy array onto this device (optionally casting)."""
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        return self.xp.asarray(host, dtype=xp_dtype, device=self.device)

    def to_host(self, array) -> np.ndarray:
        """A NumPy copy of an array of this backend."""
        return np.asarray(array).copy()

    # -- kernels --------------------------------------------------------------

    def scatter_add_rows(self, values, index, size: int):
        """out[index[i]] += values[i] along axis 0, deterministically.

        NOTE: repeated indices are added in the order they occur, exactly as a
        sequential loop would. Each round adds at most one value per target row
        through a 0/1 matrix product, which is exact whatever the BLAS order,
        so every backend gives bit-identical sums.
        """
        xp = self.xp
        n = index.shape[0]
        trailing = values.shape[1:]
        flat = xp.reshape(values, (n, -1))
        out = xp.zeros((size, flat.shape[1]), dtype=values.dtype, device=self.device)
        if n == 0:
            return xp.reshape(out, (size, *trailing))
        order = xp.argsort(index, stable=True)
        sorted_index = xp.take(index, order)
        # rank of each occurrence within its group of equal indices
        positions = xp.arange(n, dtype=self.index_dtype, device=self.device)
        is_start = xp.concat(
            [xp.ones((1,), dtype=xp.bool, device=self.device), sorted_index[1:] != sorted_index[:-1]]
        )
        group_start = xp.cumulative_sum(xp.astype(is_start, self.index_dtype)) - 1
        first_position = xp.take(positions[is_start], group_start)
        rank_sorted = positions - first_position
        rank = xp.take(rank_sorted, xp.argsort(order, stable=True))
        targets = xp.arange(size, dtype=index.dtype, device=self.device)
        for r in range(int(xp.max(rank)) + 1):
            chosen = rank == r
            rows = xp.nonzero(chosen)[0]
            one_hot = xp.astype(xp.take(index, rows)[None, :] == targets[:, None], values.dtype)
            out = out + one_hot @ xp.take(flat, rows, axis=0)
        return xp.reshape(out, (size, *trailing))

    # -- optimizer steps --------------------------------------------------------
    # Each takes a parameter, its gradient and its state arrays plus Python-float
    # hyperparameters, and returns the updated (param, *state). Where `inplace`,
    # the arrays passed in are overwritten and returned; else new ones are.

    def _write(self, target, value):
        if self.inplace:
            target[...] = value
            return target
        return value

    def sgd_step(self, param, grad, momentum_buffer, lr: float, momentum: float,
                 dampening: float, nesterov: bool, weight_decay: float, maximize: bool):
        """One SGD step; `momentum_buffer` is None on the first step. Returns (param, buffer)."""
        d = -grad if maximize else grad
        if weight_decay != 0:
            d = d + weight_decay * param
        if momentum != 0:
            if momentum_buffer is None:
                momentum_buffer = self.xp.asarray(d, copy=True)
            else:
                momentum_buffer = self._write(
                    momentum_buffer, momentum * momentum_buffer + (1 - dampening) * d)
            d = d + momentum * momentum_buffer if nesterov else momentum_buffer
        return self._write(param, param - lr * d), momentum_buffer

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float,
                  beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool,
                  maximize: bool, decoupled_weight_decay: bool):
        """One Adam/AdamW step (`step` counts from 1); `max_exp_avg_sq` is None without amsgrad.

        Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq).
        """
        xp = self.xp
        g = -grad if maximize else grad
        base = param
        if weight_decay != 0:
            if decoupled_weight_decay:
                base = param * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * param
        exp_avg = self._write(exp_avg, exp_avg + (1 - beta1) * (g - exp_avg))
        exp_avg_sq = self._write(exp_avg_sq, beta2 * exp_avg_sq + (1 - beta2) * (g * g))
        second = exp_avg_sq
        if amsgrad:
            max_exp_avg_sq = self._write(max_exp_avg_sq, xp.maximum(max_exp_avg_sq, exp_avg_sq))
            second = max_exp_avg_sq
        step_size = lr / (1 - beta1**step)
        denom = xp.sqrt(second) / math.sqrt(1 - beta2**step) + eps
        param = self._write(param, base - step_size * (exp_avg / denom))
        return param, exp_avg, exp_avg_sq, max_exp_avg_sq

    def rmsprop_step(self, param, grad, square_avg, grad_avg, momentum_buffer, lr: float,
                     alpha: float, eps: float, weight_decay: float, momentum: float,
                     centered: bool, maximize: bool):
        """One RMSprop step; `grad_avg` is None unless centered, `momentum_buffer` unless
        momentum > 0. Returns (param, square_avg, grad_avg, momentum_buffer)."""
        xp = self.xp
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        square_avg = self._write(square_avg, alpha * square_avg + (1 - alpha) * (g * g))
        if centered:
            grad_avg = self._write(grad_avg, grad_avg + (1 - alpha) * (g - grad_avg))
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = xp.sqrt(square_avg) + eps
        if momentum > 0:
            momentum_buffer = self._write(momentum_buffer, momentum * momentum_buffer + g / avg)
            update = momentum_buffer
        else:
            update = g / avg
        return self._write(param, param - lr * update), square_avg, grad_avg, momentum_buffer

    def adagrad_step(self, param, grad, state_sum, step: int, lr: float, lr_decay: float,
                     weight_decay: float, eps: float, maximize: bool):
        """One Adagrad step (`step` counts from 1). Returns (param, state_sum)."""
        g = -grad if maximize else grad
        if weight_decay != 0:
            g = g + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum = self._write(state_sum, state_sum + g * g)
        std = self.xp.sqrt(state_sum) + eps
        return self._write(param, param - clr * (g / std)), state_sum

    # -- convolution and pooling ------------------------------------------------
    # Layout NCHW. `kernel`, `stride`, `dilation` are (height, width) pairs and
    # `padding` is (top, bottom, left, right). Columns ("im2col") have one row per
    # (channel, kernel row, kernel column) and one column per output position, in
    # one of two layouts: channel-major (C*kh*kw, N, Ho, Wq), multiplied by the
    # weight in one big matmul, or batch-major (N, C*kh*kw, Ho, Wq), one matmul per
    # sample, which saves two transposes when there are few rows (a first layer).
    # Wq is Wo, or for stride 1 optionally the padded width ("wide" columns): each
    # kernel offset then reads one contiguous run of the padded image, and the
    # Wq - Wo extra entries per row are don't-care values that the caller drops.
    # Subclasses may build columns faster but must return the same values, and the
    # matrix products below are shared, so every backend gives the same bits.
    # Temporaries that never leave a kernel come from `_scratch(name, ...)`: fresh
    # arrays here, reused buffers where a subclass can write into them (NumPy).

    def _scratch(self, name: str, shape, dtype, fill=None):
        """An array for a temporary that dies within the kernel call (filled if asked)."""
        if fill is None:
            return self.xp.empty(shape, dtype=dtype, device=self.device)
        return self.xp.full(shape, fill, dtype=dtype, device=self.device)

    def recycle(self, array) -> None:
        """`array` (conv2d_forward's columns) is no longer needed: a backend may reuse its
        memory for the next columns of that shape. Nothing happens here."""

    def _matmul(self, a, b, scratch: str | None = None):
        """a @ b; with `scratch`, the product is a temporary (see _scratch)."""
        return self.xp.matmul(a, b)

    def _padded(self, x, padding, fill, extra_rows: int = 0, scratch: str | None = None):
        """x inside a border of `fill`, with `extra_rows` more rows at the bottom."""
        top, bottom, left, right = padding
        if not (top or bottom or left or right or extra_rows):
            return x
        n, c, h, w = x.shape
        shape = (n, c, top + h + bottom + extra_rows, left + w + right)
        if scratch is None:
            out = self.xp.full(shape, fill, dtype=x.dtype, device=self.device)
        else:
            out = self._scratch(scratch, shape, x.dtype, fill)
        out[:, :, top:top + h, left:left + w] = x
        return out

    def im2col(self, x, kernel, stride, padding, dilation, batch_major: bool = False,
               wide: bool = False):
        """The windows of x (N, C, H, W) as columns; see the layout note above."""
        xp = self.xp
        n, c = x.shape[:2]
        (kh, kw), (dh, dw) = kernel, dilation
        ho, wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)
        if wide:
            pitch = x.shape[3] + padding[2] + padding[3]
            tail = wide_tail_rows(kernel, dilation, pitch)
            flat = xp.reshape(self._padded(x, padding, 0, tail, "im2col.padded"), (n, c, -1))
            length = ho * pitch
            starts = [i * dh * pitch + j * dw for i in range(kh) for j in range(kw)]
            pieces = [flat[:, :, s:s + length] for s in starts]
            position_shape = (ho, pitch)
        else:
            padded = self._padded(x, padding, 0, scratch="im2col.padded")
            pieces = [padded[w] for w in pool_windows(kernel, stride, dilation, (ho, wo))]
            position_shape = (ho, wo)
        if batch_major:
            return xp.reshape(xp.stack(pieces, axis=2), (n, c * kh * kw, *position_shape))
        pieces = [xp.permute_dims(p, (1, 0, *range(2, p.ndim))) for p in pieces]
        return xp.reshape(xp.stack(pieces, axis=1), (c * kh * kw, n, *position_shape))

    def col2im(self, columns, input_shape, kernel, stride, padding, dilation,
               batch_major: bool = False):
        """The adjoint of im2col: add every column entry back where it was read from.

        Wide columns (Wq > Wo) must hold zeros in their don't-care entries. Offsets are
        added in row-major kernel order, the same on every backend.
        """
        xp = self.xp
        n, c, h, w = input_shape
        (kh, kw), (dh, dw) = kernel, dilation
        top, bottom, left, right = padding
        ho, wo = conv_output_hw(input_shape, kernel, stride, padding, dilation)
        pitch = columns.shape[-1]
        # NOTE: channel-major columns are added up in (C, N, ...) order, reading each
        # offset's block sequentially (1.6x faster than (N, C, ...)); the interior copy
        # at the end transposes.
        if batch_major:
            lead = (n, c)
            cols = xp.reshape(columns, (n, c, kh * kw, ho * pitch))
            pieces = [cols[:, :, r, :] for r in range(kh * kw)]
        else:
            lead = (c, n)
            cols = xp.reshape(columns, (c, kh * kw, n, ho * pitch))
            pieces = [cols[:, r, :, :] for r in range(kh * kw)]
        hp, wp = top + h + bottom, left + w + right
        if pitch != wo:  # wide columns
            rows = hp + wide_tail_rows(kernel, dilation, wp)
            flat = self._accumulator("col2im.padded", (*lead, rows * wp), columns.dtype,
                                     (rows, wp) != (h, w) or not batch_major)
            length = ho * wp
            for (i, j), piece in zip(_offsets(kernel), pieces):
                start = i * dh * wp + j * dw
                flat[:, :, start:start + length] += piece
            padded = xp.reshape(flat, (*lead, rows, wp))
        else:
            padded = self._accumulator("col2im.padded", (*lead, hp, wp), columns.dtype,
                                       (hp, wp) != (h, w) or not batch_major)
            for window, piece in zip(pool_windows(kernel, stride, dilation, (ho, wo)), pieces):
                padded[window] += xp.reshape(piece, (*lead, ho, wo))
        return self._interior(padded, input_shape, padding, channels_first=not batch_major)

    def _accumulator(self, name: str, shape, dtype, temporary: bool):
        """Zeros to add into: a scratch buffer when only its interior will be copied out."""
        if temporary:
            return self._scratch(name, shape, dtype, 0)
        return self.xp.zeros(shape, dtype=dtype, device=self.device)

    def _interior(self, padded, input_shape, padding, channels_first: bool = False):
        """The unpadded (N, C, H, W) part as a new array, or `padded` when it has no border.
        `channels_first`: `padded` is (C, N, ...)."""
        h, w = input_shape[2:]
        top, left = padding[0], padding[2]
        if channels_first:
            out = self.xp.empty(tuple(input_shape), dtype=padded.dtype, device=self.device)
            out[...] = self.xp.permute_dims(padded[:, :, top:top + h, left:left + w],
                                            (1, 0, 2, 3))
            return out
        if padded.shape[2:] == (h, w):
            return padded
        return self.xp.asarray(padded[:, :, top:top + h, left:left + w], copy=True)

    def conv2d_forward(self, x, weight, bias, stride, padding, dilation, groups: int,
                       keep_columns: bool = False):
        """Cross-correlation of x (N, C, H, W) with weight (O, C/groups, kh, kw), plus bias.

        Returns:
            (output (N, O, Ho, Wo), the columns for conv2d_backward_weight or None).
        """
        xp = self.xp
        kernel = tuple(weight.shape[2:])
        batch_major = conv_batch_major(weight.shape, groups)
        wide = stride == (1, 1) and not batch_major
        columns = self.im2col(x, kernel, stride, padding, dilation, batch_major, wide)
        ho, pitch = columns.shape[-2:]
        wo = conv_output_hw(x.shape, kernel, stride, padding, dilation)[1]
        is_output = batch_major and pitch == wo  # else _conv_output copies it out
        product = self._matmul(_grouped_weight(xp, weight, groups),
                               _grouped_columns(xp, columns, groups, batch_major),
                               None if is_output else "conv.product")
        n, o = x.shape[0], weight.shape[0]
        shape = (n, o, ho, pitch) if batch_major else (o, n, ho, pitch)
        out = self._conv_output(xp.reshape(product, shape), bias, wo, batch_major)
        return out, (columns if keep_columns else None)

    def _conv_output(self, product, bias, wo: int, batch_major: bool):
        """(N, O, Ho, Wo) from the matmul's (O, N, Ho, Wq) or (N, O, Ho, Wq), plus bias."""
        xp = self.xp
        bias = None if bias is None else xp.reshape(bias, (bias.shape[0], 1, 1))
        if batch_major and product.shape[-1] == wo:
            if bias is not None:
                product += bias
            return product
        view = product[..., :wo]
        if not batch_major:
            view = xp.permute_dims(view, (1, 0, 2, 3))
        out = xp.empty(view.shape, dtype=product.dtype, device=self.device)
        out[...] = view if bias is None else view + bias
        return out

    def conv2d_shares_grad_columns(self, weight_shape, groups: int) -> bool:
        """Whether conv2d's two backward kernels take one conv2d_grad_columns(grad, pitch,
        False) between them (channel-major columns)."""
        return not conv_batch_major(weight_shape, groups)

    def conv2d_grad_columns(self, grad, pitch: int, batch_major: bool):
        """grad (N, O, Ho, Wo) laid out as the matmul sees it: (O, N, Ho, Wq) or
        (N, O, Ho, Wq), zero in the don't-care columns (Wq = `pitch`)."""
        xp = self.xp
        wo = grad.shape[3]
        if batch_major and pitch == wo:
            return grad
        if not batch_major:
            grad = xp.permute_dims(grad, (1, 0, 2, 3))
        shape = (*grad.shape[:3], pitch)
        out = self._scratch("conv.grad_columns", shape, grad.dtype, None if pitch == wo else 0)
        out[..., :wo] = grad
        return out

    def conv2d_backward_input(self, grad, weight, input_shape, stride, padding, dilation,
                              groups: int, grad_columns=None):
        """d(loss)/d(input) of conv2d (a transposed convolution of grad); `grad_columns`,
        from conv2d_grad_columns, may be passed when already computed."""
        xp = self.xp
        kernel = tuple(weight.shape[2:])
        batch_major = conv_batch_major(weight.shape, groups)
        pitch = _grad_input_pitch(input_shape, stride, padding, dilation, kernel)
        if grad_columns is None or grad_columns.shape[-1] != pitch:
            grad_columns = self.conv2d_grad_columns(grad, pitch, batch_major)
        w = _grouped_weight(xp, weight, groups)
        g = _grouped_columns(xp, grad_columns, groups, batch_major)
        columns = self._matmul(xp.matrix_transpose(w), g, "conv.column_grads")
        n, c = input_shape[:2]
        k = c * kernel[0] * kernel[1]
        ho = grad.shape[2]
        shape = (n, k, ho, pitch) if batch_major else (k, n, ho, pitch)
        return self.col2im(xp.reshape(columns, shape), input_shape, kernel, stride, padding,
                           dilation, batch_major)

    def conv2d_backward_weight(self, x, grad, weight_shape, stride, padding, dilation,
                               groups: int, columns=None, grad_columns=None):
        """d(loss)/d(weight) of conv2d; `columns` are conv2d_forward's, when kept."""
        xp = self.xp
        kernel = tuple(weight_shape[2:])
        batch_major = conv_batch_major(weight_shape, groups)
        if columns is None:
            wide = stride == (1, 1) and not batch_major
            columns = self.im2col(x, kernel, stride, padding, dilation, batch_major, wide)
        pitch = columns.shape[-1]
        if grad_columns is None or grad_columns.shape[-1] != pitch:
            grad_columns = self.conv2d_grad_columns(grad, pitch, batch_major)
        g = _grouped_columns(xp, grad_columns, groups, batch_major)
        cols = _grouped_columns(xp, columns, groups, batch_major)
        if batch_major:  # per-sample products, summed
            product = xp.sum(self._matmul(g, xp.matrix_transpose(cols), "conv.weight_grads"),
                             axis=0)
        else:
            product = xp.matmul(g, xp.matrix_transpose(cols))
        return xp.reshape(product, tuple(weight_shape))

    def conv2d_backward_bias(self, grad):
        """d(loss)/d(bias) of conv2d: grad (N, O, Ho, Wo) summed over all but O."""
        return self.xp.sum(grad, axis=(0, 2, 3))

    def max_pool2d_forward(self, x, kernel, stride, padding, dilation):
        """(values, index) of each window's maximum; index is the kernel offset i*kw + j.

        NOTE: the first maximum in row-major window order wins a tie, as in PyTorch, so
        the gradient goes to one element. A NaN makes the value NaN (maximum propagates
        it); the index then stays on the maximum seen before it.
        """
        xp = self.xp
        fill = -math.inf if xp.isdtype(x.dtype, "real floating") else xp.iinfo(x.dtype).min
        padded = self._padded(x, padding, fill, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, dilation)
        index_dtype = xp.uint8 if kernel[0] * kernel[1] <= 256 else xp.int32
        index = xp.zeros((*x.shape[:2], *out_hw), dtype=index_dtype, device=self.device)
        best = None
        for r, window in enumerate(pool_windows(kernel, stride, dilation, out_hw)):
            value = padded[window]
            if best is None:
                best = value
                continue
            better = value > best
            best = xp.maximum(best, value)
            index = xp.where(better, xp.asarray(r, dtype=index_dtype, device=self.device), index)
        if kernel == (1, 1):
            best = xp.asarray(best, copy=True)
        return best, index

    def max_pool2d_values(self, x, kernel, stride, padding, dilation):
        """The values of max_pool2d_forward without the index (when no gradient is needed)."""
        xp = self.xp
        fill = -math.inf if xp.isdtype(x.dtype, "real floating") else xp.iinfo(x.dtype).min
        padded = self._padded(x, padding, fill, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, dilation)
        best = None
        for window in pool_windows(kernel, stride, dilation, out_hw):
            best = padded[window] if best is None else xp.maximum(best, padded[window])
        if kernel == (1, 1):
            best = xp.asarray(best, copy=True)
        return best

    def relu_backward(self, grad, out):
        """grad where out > 0, else 0 (a NaN or Inf gradient at an inactive unit gives 0)."""
        return self.xp.where(out > 0, grad, 0.0)

    def max_pool2d_backward(self, grad, index, input_shape, kernel, stride, padding, dilation):
        """Route each window's gradient to its winning element (the adjoint of the gather)."""
        xp = self.xp
        n, c, h, w = input_shape
        top, bottom, left, right = padding
        padded = self._accumulator("pool.padded", (n, c, top + h + bottom, left + w + right),
                                   grad.dtype, any(padding))
        zero = xp.zeros((), dtype=grad.dtype, device=self.device)
        for r, window in enumerate(pool_windows(kernel, stride, dilation, grad.shape[2:])):
            padded[window] += xp.where(index == r, grad, zero)
        return self._interior(padded, input_shape, padding)

    def max_pool2d_gather(self, values, index, kernel, stride, padding, dilation):
        """values (N, C, H, W) at each window's winning position: (N, C, Ho, Wo)."""
        xp = self.xp
        padded = self._padded(values, padding, 0, scratch="pool.padded")
        out = xp.zeros(index.shape, dtype=values.dtype, device=self.device)
        for r, window in enumerate(pool_windows(kernel, stride, dilation, index.shape[2:])):
            out = xp.where(index == r, padded[window], out)
        return out

    def avg_pool2d_forward(self, x, kernel, stride, padding, divisor):
        """Window sums divided by `divisor` (a float, or an array broadcasting to (Ho, Wo))."""
        xp = self.xp
        padded = self._padded(x, padding, 0, scratch="pool.padded")
        out_hw = conv_output_hw(x.shape, kernel, stride, padding, (1, 1))
        total = None
        for window in pool_windows(kernel, stride, (1, 1), out_hw):
            total = xp.asarray(padded[window], copy=True) if total is None else total + padded[window]
        return total / divisor

    def avg_pool2d_backward(self, grad, input_shape, kernel, stride, padding, divisor):
        """The adjoint of avg_pool2d_forward: grad / divisor spread over each window."""
        xp = self.xp
        n, c, h, w = input_shape
        top, bottom, left, right = padding
        padded = self._accumulator("pool.padded", (n, c, top + h + bottom, left + w + right),
                                   grad.dtype, any(padding))
        share = grad / divisor
        for window in pool_windows(kernel, stride, (1, 1), grad.shape[2:]):
            padded[window] += share
        return self._interior(padded, input_shape, padding)


# -- geometry shared by the conv and pooling kernels of every backend ------------------


def conv_output_hw(input_shape, kernel, stride, padding, dilation) -> tuple[int, int]:
    """(Ho, Wo) of a window op on an (N, C, H, W) input."""
    h, w = input_shape[-2:]
    top, bottom, left, right = padding
    ho = (h + top + bottom - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    wo = (w + left + right - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    return ho, wo


def wide_tail_rows(kernel, dilation, pitch: int) -> int:
    """Rows of zeros below a padded image so that every wide-column run stays inside it."""
    return -(-(kernel[1] - 1) * dilation[1] // pitch)


def conv_batch_major(weight_shape, groups: int) -> bool:
    """Batch-major columns when a group has fewer column rows than output channels.

    NOTE: with few rows (a first layer: 1 channel x 3 x 3) the matmul is cheap and the
    two transposes between (O, N, ...) and (N, O, ...) would dominate; with many rows,
    one big matmul beats N small ones.
    """
    out_channels, group_channels, kh, kw = weight_shape
    return group_channels * kh * kw < out_channels // groups


def pool_windows(kernel, stride, dilation, out_hw):
    """For each kernel offset in row-major order, the index picking its (N, C, Ho, Wo) values
    from a padded input."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    for i, j in _offsets(kernel):
        yield (slice(None), slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
               slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))


def _offsets(kernel):
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _grad_input_pitch(input_shape, stride, padding, dilation, kernel) -> int:
    """Wide columns (the padded width) for stride 1, else Wo."""
    if stride == (1, 1):
        return input_shape[3] + padding[2] + padding[3]
    return conv_output_hw(input_shape, kernel, stride, padding, dilation)[1]


def _grouped_weight(xp, weight, groups: int):
    o, cg, kh, kw = weight.shape
    if groups == 1:
        return xp.reshape(weight, (o, cg * kh * kw))
    return xp.reshape(weight, (groups, o // groups, cg * kh * kw))


def _grouped_columns(xp, columns, groups: int, batch_major: bool):
    """Columns (or grad columns) as matrices: (rows, N*L), (N, rows, L), split by group."""
    if batch_major:
        n, rows, ho, pitch = columns.shape
        shape = (n, rows, ho * pitch) if groups == 1 else (n, groups, rows // groups, ho * pitch)
    else:
        rows, n, ho, pitch = columns.shape
        shape = (rows, n * ho * pitch) if groups == 1 else (groups, rows // groups, n * ho * pitch)
    return xp.reshape(columns, shape)
