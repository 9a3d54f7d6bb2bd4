"""Convolution kernels written once with standard array-API calls (im2col, col2im, conv2d)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradflow.backends.geometry import (
    conv_batch_major,
    conv_output_hw,
    kernel_offsets,
    pool_windows,
    wide_tail_rows,
)

if TYPE_CHECKING:
    from gradflow.backends.workspace import Workspace

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
# Temporaries that never leave a kernel come from `workspace.scratch(name, ...)`:
# fresh arrays in the generic workspace, reused buffers in NumPy's.

class ConvKernels:
    """conv2d and its gradients; mixed into Backend (needs xp, device, workspace, matmul)."""

    # the core backend's (core.py)
    xp: Any
    device: Any
    workspace: Workspace

    if TYPE_CHECKING:
        def matmul(self, a, b, scratch: str | None = None) -> Any: ...

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
            out = self.workspace.scratch(scratch, shape, x.dtype, fill)
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
            for (i, j), piece in zip(kernel_offsets(kernel), pieces):
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
            return self.workspace.scratch(name, shape, dtype, 0)
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
        product = self.matmul(grouped_weight(xp, weight, groups),
                               grouped_columns(xp, columns, groups, batch_major),
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
        fill = None if pitch == wo else 0
        out = self.workspace.scratch("conv.grad_columns", shape, grad.dtype, fill)
        out[..., :wo] = grad
        return out

    def conv2d_backward_input(self, grad, weight, input_shape, stride, padding, dilation,
                              groups: int, grad_columns=None):
        """d(loss)/d(input) of conv2d (a transposed convolution of grad); `grad_columns`,
        from conv2d_grad_columns, may be passed when already computed."""
        xp = self.xp
        kernel = tuple(weight.shape[2:])
        batch_major = conv_batch_major(weight.shape, groups)
        pitch = grad_input_pitch(input_shape, stride, padding, dilation, kernel)
        if grad_columns is None or grad_columns.shape[-1] != pitch:
            grad_columns = self.conv2d_grad_columns(grad, pitch, batch_major)
        w = grouped_weight(xp, weight, groups)
        g = grouped_columns(xp, grad_columns, groups, batch_major)
        columns = self.matmul(xp.matrix_transpose(w), g, "conv.column_grads")
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
        g = grouped_columns(xp, grad_columns, groups, batch_major)
        cols = grouped_columns(xp, columns, groups, batch_major)
        if batch_major:  # per-sample products, summed
            product = xp.sum(self.matmul(g, xp.matrix_transpose(cols), "conv.weight_grads"),
                             axis=0)
        else:
            product = self.matmul(g, xp.matrix_transpose(cols))
        return xp.reshape(product, tuple(weight_shape))

    def conv2d_backward_bias(self, grad):
        """d(loss)/d(bias) of conv2d: grad (N, O, Ho, Wo) summed over all but O."""
        return self.xp.sum(grad, axis=(0, 2, 3))

def grad_input_pitch(input_shape, stride, padding, dilation, kernel) -> int:
    """Wide columns (the padded width) for stride 1, else Wo."""
    if stride == (1, 1):
        return input_shape[3] + padding[2] + padding[3]
    return conv_output_hw(input_shape, kernel, stride, padding, dilation)[1]


def grouped_weight(xp, weight, groups: int):
    o, cg, kh, kw = weight.shape
    if groups == 1:
        return xp.reshape(weight, (o, cg * kh * kw))
    return xp.reshape(weight, (groups, o // groups, cg * kh * kw))


def grouped_columns(xp, columns, groups: int, batch_major: bool):
    """Columns (or grad columns) as matrices: (rows, N*L), (N, rows, L), split by group."""
    if batch_major:
        n, rows, ho, pitch = columns.shape
        shape = (n, rows, ho * pitch) if groups == 1 else (n, groups, rows // groups, ho * pitch)
    else:
        rows, n, ho, pitch = columns.shape
        shape = (rows, n * ho * pitch) if groups == 1 else (groups, rows // groups, n * ho * pitch)
    return xp.reshape(columns, shape)
