"""The gate math of one LSTM or GRU time step, each as one op.

A recurrent layer runs its step once per time step; written with primitives the gate
math is some fifteen recorded ops (chunk, three sigmoids, two tanhs, products, sums), and
their per-op cost, not the arithmetic, dominates at the sizes RNNs run at. Here each
step is one op whose backward is one op too (`LSTMCellBackward`, `GRUCellBackward`:
all gate gradients in one forward, from the activations the step saved). The backward
ops' own backward rules, written with gradflow's primitives, give second and higher
derivatives. The products x W_ih^T and h W_hh^T stay Linear ops outside.
"""

from __future__ import annotations

from gradflow.autograd.function import Function
from gradflow.errors import DTypeError, ShapeError
from gradflow.ops.elementwise import sigmoid, tanh
from gradflow.ops.shape import GetItem, cat, stack
from gradflow.tensor import Tensor

__all__ = ["gru_cell_step", "lstm_cell_step"]


def _sigmoid(xp, x):
    # NOTE: as Sigmoid's forward: exp overflows to inf for very negative x, giving 0
    return 1.0 / (1.0 + xp.exp(-x))


class LSTMCellStep(Function):
    """(gates, c) -> stack((h', c')), gates i, f, g, o stacked on the last axis:
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c')."""

    saved = ("activations",)  # i, f, g, o and tanh(c')
    grad_reads = ((0, 1), (0, 1))  # the first derivative reads c, the second both

    def forward(self, gates, c):
        xp = self.backend.xp
        hidden = c.shape[-1]
        sig = _sigmoid(xp, gates)
        i, f, o = sig[..., :hidden], sig[..., hidden:2 * hidden], sig[..., 3 * hidden:]
        g = xp.tanh(gates[..., 2 * hidden:3 * hidden])
        cell = f * c + i * g
        t = xp.tanh(cell)
        self.activations = (i, f, g, o, t)
        return xp.stack((o * t, cell))

    def backward(self, grad):
        gates, c = self.inputs
        hidden = c.shape[-1]
        both = LSTMCellBackward.apply(grad, gates, c, activations=self.activations)
        needs = self.needs_input_grad
        return tuple(GetItem.apply(both, key=(Ellipsis, key)) if need else None
                     for need, key in zip(needs, (slice(0, 4 * hidden), slice(4 * hidden, None))))


class LSTMCellBackward(Function):
    """LSTMCellStep's gradients from the gradient of stack((h', c')): the gates' and c's,
    concatenated on the last axis, in one forward from the step's saved activations."""

    params = ("activations",)
    grad_reads = ((1, 2), (0, 1, 2), (0, 1, 2))

    def forward(self, grad, gates, c):
        i, f, g, o, t = self.activations
        grad_h, grad_c = grad[0, ...], grad[1, ...]
        grad_cell = grad_c + grad_h * o * (1.0 - t * t)
        return self.backend.xp.concat(
            (grad_cell * g * i * (1.0 - i), grad_cell * c * f * (1.0 - f),
             grad_cell * i * (1.0 - g * g), grad_h * t * o * (1.0 - o), grad_cell * f), axis=-1)

    def backward(self, upstream):
        # NOTE: the second derivative, on Tensors; rarely run, so recomputed from the inputs
        grad, gates, c = self.inputs
        needs = self.needs_input_grad
        grad_h, grad_c = grad[0], grad[1]
        a_i, a_f, a_g, a_o = gates.chunk(4, -1)
        i, f, o, g = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o), tanh(a_g)
        t = tanh(f * c + i * g)
        di, df, do, dg, dt = i * (1 - i), f * (1 - f), o * (1 - o), 1 - g * g, 1 - t * t
        u_i, u_f, u_g, u_o, u_c = upstream.chunk(5, -1)
        grad_cell = grad_c + grad_h * o * dt
        # the upstream gradient dotted with the gate gradients' factors of grad_cell
        factor = u_i * g * di + u_f * c * df + u_g * i * dg + u_c * f
        d_cell = grad_h * (u_o * do - 2 * factor * o * t) * dt
        d_grad = stack((u_o * t * do + factor * o * dt, factor)) if needs[0] else None
        d_gates = None
        if needs[1]:
            d_gates = cat((
                (grad_cell * (u_i * g * (1 - 2 * i) + u_g * dg) + d_cell * g) * di,
                (grad_cell * (u_f * c * (1 - 2 * f) + u_c) + d_cell * c) * df,
                (grad_cell * (u_i * di - 2 * u_g * i * g) + d_cell * i) * dg,
                (u_o * grad_h * t * (1 - 2 * o) + factor * grad_h * dt) * do), -1)
        d_c = grad_cell * u_f * df + d_cell * f if needs[2] else None
        return d_grad, d_gates, d_c


class GRUCellStep(Function):
    """(x_gates, h_gates, h) -> h', gates r, z, n stacked on the last axis (PyTorch's GRU):
    r = sigmoid(x_r + h_r), z = sigmoid(x_z + h_z), n = tanh(x_n + r * h_n),
    h' = n + z * (h - n)."""

    saved = ("activations",)  # r, z, n
    grad_reads = ((0, 1, 2),) * 3

    def forward(self, x_gates, h_gates, h):
        xp = self.backend.xp
        hidden = h.shape[-1]
        rz = _sigmoid(xp, x_gates[..., :2 * hidden] + h_gates[..., :2 * hidden])
        r, z = rz[..., :hidden], rz[..., hidden:]
        n = xp.tanh(x_gates[..., 2 * hidden:] + r * h_gates[..., 2 * hidden:])
        self.activations = (r, z, n)
        return n + z * (h - n)

    def backward(self, grad):
        x_gates, h_gates, h = self.inputs
        hidden = h.shape[-1]
        every = GRUCellBackward.apply(grad, x_gates, h_gates, h, activations=self.activations)
        needs = self.needs_input_grad
        return tuple(GetItem.apply(every, key=(Ellipsis, slice(start, stop))) if need else None
                     for need, start, stop in zip(needs, (0, 3 * hidden, 6 * hidden),
                                                  (3 * hidden, 6 * hidden, None)))


class GRUCellBackward(Function):
    """GRUCellStep's gradients (x_gates', h_gates', h') concatenated on the last axis, in
    one forward from the step's saved activations."""

    params = ("activations",)
    grad_reads = ((1, 2, 3),) + ((0, 1, 2, 3),) * 3

    def forward(self, grad, x_gates, h_gates, h):
        r, z, n = self.activations
        h_n = h_gates[..., 2 * r.shape[-1]:]
        d_n = grad * (1.0 - z) * (1.0 - n * n)
        d_z = grad * (h - n) * z * (1.0 - z)
        d_r = d_n * h_n * r * (1.0 - r)
        return self.backend.xp.concat((d_r, d_z, d_n, d_r, d_z, d_n * r, grad * z), axis=-1)

    def backward(self, upstream):
        # NOTE: the second derivative, on Tensors; rarely run, so recomputed from the inputs
        grad, x_gates, h_gates, h = self.inputs
        needs = self.needs_input_grad
        x_r, x_z, x_n = x_gates.chunk(3, -1)
        h_r, h_z, h_n = h_gates.chunk(3, -1)
        r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
        n = tanh(x_n + r * h_n)
        dr, dz, dn = r * (1 - r), z * (1 - z), 1 - n * n
        u_xr, u_xz, u_xn, u_hr, u_hz, u_hn, u_h = upstream.chunk(7, -1)
        u_r, u_z = u_xr + u_hr, u_xz + u_hz
        grad_n = grad * (1 - z) * dn  # the forward's d_n
        # the upstream gradient dotted with the factors of grad_n
        factor = u_r * h_n * dr + u_xn + u_hn * r
        d_grad = (1 - z) * dn * factor + u_z * (h - n) * dz + u_h * z if needs[0] else None
        d_x = d_hidden = None
        if needs[1] or needs[2]:
            d_an = (-2 * grad * (1 - z) * n * factor - u_z * grad * dz) * dn
            d_ar = (d_an * h_n + grad_n * (u_r * h_n * (1 - 2 * r) + u_hn)) * dr
            d_az = (-grad * dn * factor + u_z * grad * (h - n) * (1 - 2 * z) + u_h * grad) * dz
            d_x = cat((d_ar, d_az, d_an), -1) if needs[1] else None
            d_hidden = cat((d_ar, d_az, d_an * r + grad_n * u_r * dr), -1) if needs[2] \
                else None
        d_h = u_z * grad * dz if needs[3] else None
        return d_grad, d_x, d_hidden, d_h


def _check_step(op: str, count: int, gates: dict[str, Tensor], state: Tensor) -> None:
    expected = (*state.shape[:-1], count * state.shape[-1])
    named = ", ".join(f"{name} {g.shape}" for name, g in gates.items())
    if state.ndim < 1 or any(g.shape != expected for g in gates.values()):
        raise ShapeError(f"{op}: {named} must be {expected}, {count} gates for a state of "
                         f"shape {state.shape}")
    if any(g.dtype != state.dtype for g in gates.values()):
        dtypes = ", ".join(f"{name} {g.dtype}" for name, g in gates.items())
        raise DTypeError(f"{op}: {dtypes} and the state ({state.dtype}) must share one dtype; "
                         "cast them first")


def lstm_cell_step(gates: Tensor, c: Tensor) -> Tensor:
    """One LSTM step's gate math, as torch.nn.LSTM computes it, as one op.

    Args:
        gates: x W_ih^T + b_ih + h W_hh^T + b_hh, shape (..., 4 * H), gates i, f, g, o in
            that order.
        c: the cell state, shape (..., H).

    Returns:
        stack((h', c')), shape (2, ..., H): out[0] is the new hidden state, out[1] the
        new cell state.

    Example:
        >>> state = lstm_cell_step(gf.zeros(3, 8), gf.ones(3, 2))
        >>> state.shape, round(state[1, 0, 0].item(), 2)   # c' = sigmoid(0) * 1
        ((2, 3, 2), 0.5)
    """
    _check_step("lstm_cell_step", 4, {"gates": gates}, c)
    return LSTMCellStep.apply(gates, c)


def gru_cell_step(x_gates: Tensor, h_gates: Tensor, h: Tensor) -> Tensor:
    """One GRU step's gate math, as torch.nn.GRU computes it (r applied to h W_hn^T + b_hn).

    Args:
        x_gates: x W_ih^T + b_ih, shape (..., 3 * H), gates r, z, n in that order.
        h_gates: h W_hh^T + b_hh, the same shape.
        h: the hidden state, shape (..., H).

    Returns:
        h', shape (..., H).

    Example:
        >>> h = gru_cell_step(gf.zeros(3, 6), gf.zeros(3, 6), gf.ones(3, 2))
        >>> round(h[0, 0].item(), 2)   # n = 0, z = 0.5: h' = 0.5 * h
        0.5
    """
    _check_step("gru_cell_step", 3, {"x_gates": x_gates, "h_gates": h_gates}, h)
    return GRUCellStep.apply(x_gates, h_gates, h)
