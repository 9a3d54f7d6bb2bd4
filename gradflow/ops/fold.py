"""unfold (im2col) and fold (col2im) on NCHW tensors: the sliding-window kernels that
conv2d uses, made public. Each is the other's adjoint, so each one's gradient is the
other and gradients of gradients come for free. The arithmetic lives in the backend
kernels (Backend.im2col and Backend.col2im)."""

from __future__ import annotations

from gradflow.autograd.function import Function


class Unfold(Function):
    """(N, C, H, W) -> (N, C kh kw, L): each window's values as a column. Linear: its
    gradient reads no values, only the geometry."""

    params = ("input_shape", "blocks", "kernel", "stride", "padding", "dilation")

    def forward(self, x):
        n = x.shape[0]
        columns = self.backend.im2col(x, self.kernel, self.stride, self.padding, self.dilation,
                                      batch_major=True)
        return self.backend.xp.reshape(columns, (n, columns.shape[1], -1))

    def backward(self, grad):
        return Fold.apply(grad, **_geometry(self))


class Fold(Function):
    """(N, C kh kw, L) -> (N, C, H, W): each column entry added back where unfold read it."""

    params = Unfold.params

    def forward(self, columns):
        n, rows, _ = columns.shape
        blocks = self.blocks
        grid = self.backend.xp.reshape(columns, (n, rows, *blocks))
        return self.backend.col2im(grid, self.input_shape, self.kernel, self.stride,
                                   self.padding, self.dilation, batch_major=True)

    def backward(self, grad):
        return Unfold.apply(grad, **_geometry(self))


def _geometry(node) -> dict:
    return {"input_shape": node.input_shape, "blocks": node.blocks, "kernel": node.kernel,
            "stride": node.stride, "padding": node.padding, "dilation": node.dilation}
