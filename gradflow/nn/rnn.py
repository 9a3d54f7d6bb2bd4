"""Recurrent layers RNN, LSTM and GRU and their cells, as torch.nn has them.

Parameters carry PyTorch's names and layout (weight_ih_l0, weight_hh_l0_reverse, ...,
gates stacked as PyTorch stacks them: i, f, g, o for LSTM; r, z, n for GRU), so a
state dict moves between the two frameworks. Each time step is two Linear ops (the
input's and the hidden state's projections) and, for LSTM and GRU, the gate math as one
op (gradflow/ops/recurrent.py). A PackedSequence (gradflow.nn.utils.rnn) runs the same
loop with a batch that shrinks as its sequences end.
"""

from __future__ import annotations

import math
from typing import cast, overload

import gradflow as gf
from gradflow.errors import ConfigError
from gradflow.nn import functional as F
from gradflow.nn import init
from gradflow.nn.module import Module, Parameter
from gradflow.nn.utils.rnn import PackedSequence
from gradflow.ops.recurrent import GRUCellStep, LSTMCellStep
from gradflow.ops.shape import Cat, GetItem
from gradflow.tensor import Tensor

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_FIRST, _SECOND = (0, Ellipsis), (1, Ellipsis)  # h and c of an LSTM step's stacked state


def _step(mode: str, x_gates: Tensor, h: Tensor, c: Tensor | None, weight_hh: Tensor | None,
          bias_hh: Tensor | None):
    """One time step from the input projection x W_ih^T + b_ih; returns (h', c'). Without
    weight_hh, x_gates holds both projections, from one product (see _run).

    LSTM and GRU run their gate math as one op (gradflow/ops/recurrent.py)."""
    if weight_hh is not None:
        h_gates = F.linear(h, weight_hh, bias_hh)
        if mode == "GRU":  # r scales h W_hn^T + b_hn alone: the op takes both apart
            return GRUCellStep.apply(x_gates, h_gates, h), None
        x_gates = x_gates + h_gates
    if mode == "LSTM":
        assert c is not None  # an LSTM carries a cell state
        state = LSTMCellStep.apply(x_gates, c)
        return GetItem.apply(state, key=_FIRST), GetItem.apply(state, key=_SECOND)
    return (gf.tanh(x_gates) if mode == "RNN_TANH" else gf.relu(x_gates)), None


@overload
def _rows(x: Tensor, start: int, stop: int | None) -> Tensor: ...
@overload
def _rows(x: None, start: int, stop: int | None) -> None: ...
def _rows(x, start, stop):
    return None if x is None else GetItem.apply(x, key=(slice(start, stop), Ellipsis))


def _run(mode: str, inputs: list[Tensor], h: Tensor, c: Tensor | None, weights: tuple,
         reverse: bool, batch_sizes: list[int] | None = None):
    """One direction of one layer over per-step inputs; returns (per-step outputs, h_n, c_n).

    Each input is (N, F), or with batch_sizes (a packed sequence) (batch_sizes[t], F): the
    first batch_sizes[t] sequences, sorted longest first. A sequence then leaves the batch
    after its last step, where its state is its final state; backwards in time it joins
    at its last step, from its initial state.
    """
    weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = weights
    joint = None
    if mode != "GRU":
        # NOTE: one product per step, [x_t, h] [W_ih, W_hh]^T + (b_ih + b_hh): half the
        # matmuls, and the weights' gradients summed over the steps before one Cat backward
        joint = (gf.cat([weight_ih, weight_hh], 1),
                 None if bias_ih is None else bias_ih + bias_hh)
    sizes = batch_sizes or [h.shape[0]] * len(inputs)
    initial_h, initial_c = h, c
    active = sizes[-1] if reverse else sizes[0]
    if active < h.shape[0]:
        h, c = _rows(h, 0, active), _rows(c, 0, active)
    finished_h, finished_c, outputs = [], [], []
    for t in (range(len(inputs) - 1, -1, -1) if reverse else range(len(inputs))):
        size = sizes[t]
        if size > active:  # backwards: the sequences whose last step is t join
            h = gf.cat([h, _rows(initial_h, active, size)], 0)
            c = None if c is None else gf.cat([c, _rows(initial_c, active, size)], 0)
        elif size < active:  # forwards: those that ended at t - 1 leave
            finished_h.append(_rows(h, size, active))
            finished_c.append(_rows(c, size, active))
            h, c = _rows(h, 0, size), _rows(c, 0, size)
        active = size
        # NOTE: each step projects its own input: slicing one projection of the whole
        # sequence instead would cost, per step, a gradient the size of the whole sequence
        if joint is None:
            h, c = _step(mode, F.linear(inputs[t], weight_ih, bias_ih), h, c, weight_hh,
                         bias_hh)
        else:
            h, c = _step(mode, F.linear(Cat.apply(inputs[t], h, dim=1), *joint), h, c, None,
                         None)
        if weight_hr is not None:
            h = F.linear(h, weight_hr)
        outputs.append(h)
    if reverse:
        outputs.reverse()
    if finished_h:  # the rows that ended first are the last ones
        h = gf.cat([h, *reversed(finished_h)], 0)
        c = None if c is None else gf.cat([c, *reversed(finished_c)], 0)
    return outputs, h, c


def _reset_uniform(module: Module) -> None:
    """Every weight uniform in +-1/sqrt(hidden_size), as PyTorch."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for param in module.parameters():
        init.uniform_(param, -bound, bound)


class _RNNBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if num_layers < 1 or hidden_size < 1:
            raise ConfigError(f"{name}: num_layers and hidden_size must be positive")
        if not 0.0 <= dropout <= 1.0:
            raise ConfigError(f"{name}: dropout must lie in [0, 1], got {dropout}")
        if proj_size and self.mode != "LSTM":
            raise ConfigError(f"{name}: proj_size is supported by LSTM only, got {proj_size}")
        if not 0 <= proj_size < hidden_size:
            raise ConfigError(f"{name}: proj_size must lie in [0, hidden_size={hidden_size}), "
                              f"got {proj_size}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[self.mode] * hidden_size
        output_size = proj_size or hidden_size  # of h, and of each direction's output
        dtype = dtype or gf.float32
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else output_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, output_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size:  # h = (o * tanh(c)) W_hr^T, as PyTorch
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for kind, shape in shapes:
                    self.register_parameter(kind + suffix, Parameter(
                        gf.zeros(*shape, dtype=dtype, device=device)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight uniform in +-1/sqrt(hidden_size), as PyTorch."""
        _reset_uniform(self)

    def _weights(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = self._parameters.get
        return (get("weight_ih" + suffix), get("weight_hh" + suffix), get("bias_ih" + suffix),
                get("bias_hh" + suffix), get("weight_hr" + suffix))

    def _initial_state(self, x: Tensor, hx, batch: int) -> tuple[Tensor, Tensor | None]:
        h_shape, c_shape = self._state_shapes(batch)
        if hx is not None:
            return (hx, None) if self.mode != "LSTM" else hx
        h = gf.zeros(*h_shape, dtype=x.dtype, device=x.backend)
        if self.mode != "LSTM":
            return h, None
        return h, (h if h_shape == c_shape else gf.zeros(*c_shape, dtype=x.dtype,
                                                         device=x.backend))

    def _state_shapes(self, batch: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The shapes of h_0 and (LSTM) c_0 for a batch."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        return ((layers, batch, self.proj_size or self.hidden_size),
                (layers, batch, self.hidden_size))

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        unbatched = input.ndim == 2
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise self.input_shape_error(
                f"(L, N, {self.input_size}), (N, L, {self.input_size}) with batch_first, "
                f"(L, {self.input_size}) or a PackedSequence", input.shape)
        x = input.unsqueeze(1) if unbatched else (
            input.transpose(0, 1) if self.batch_first else input)
        if unbatched and hx is not None:
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)
        # NOTE: the op class: t is known good, and this runs once per step
        steps = [GetItem.apply(x, key=(t, Ellipsis)) for t in range(x.shape[0])]
        outputs, state = self._layers(steps, hx, x.shape[1], None)
        x = gf.stack(outputs, 0)
        if unbatched:
            out = x.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if isinstance(state, tuple) \
                else state.squeeze(1)
        else:
            out = x.transpose(0, 1) if self.batch_first else x
        return out, state

    def _forward_packed(self, input: PackedSequence, hx):
        data, sorted_indices = input.data, input.sorted_indices
        if data.ndim != 2 or data.shape[-1] != self.input_size:
            raise self.input_shape_error(f"a PackedSequence of data (T, {self.input_size})",
                                         data.shape)
        if hx is not None and sorted_indices is not None:  # into the packed (sorted) order
            hx = tuple(gf.index_select(h, 1, sorted_indices) for h in hx) \
                if isinstance(hx, tuple) else gf.index_select(hx, 1, sorted_indices)
        sizes = input.batch_sizes.tolist()
        offsets = [0]
        for size in sizes:
            offsets.append(offsets[-1] + size)
        steps = [_rows(data, start, stop) for start, stop in zip(offsets, offsets[1:])]
        outputs, state = self._layers(steps, hx, sizes[0], sizes)
        out = gf.cat(outputs, 0)
        if input.unsorted_indices is not None:
            state = tuple(gf.index_select(s, 1, input.unsorted_indices) for s in state) \
                if isinstance(state, tuple) else gf.index_select(state, 1, input.unsorted_indices)
        return PackedSequence(out, input.batch_sizes, sorted_indices, input.unsorted_indices), \
            state

    def _layers(self, steps: list[Tensor], hx, batch: int, batch_sizes: list[int] | None):
        """Every layer and direction over the per-step inputs; returns the last layer's
        per-step outputs and the final state (h_n, or (h_n, c_n))."""
        directions = 2 if self.bidirectional else 1
        h0, c0 = self._initial_state(steps[0], hx, batch)
        for state, expected in zip((h0, c0), self._state_shapes(batch)):
            if state is not None and state.shape != expected:
                raise self.input_shape_error(f"a hidden state {expected}", state.shape)
        last_h, last_c = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                out, h, c = _run(self.mode, steps, h0[k], None if c0 is None else c0[k],
                                 self._weights(layer, direction), bool(direction), batch_sizes)
                outputs.append(out)
                last_h.append(h)
                last_c.append(c)
            steps = outputs[0] if directions == 1 else [gf.cat(pair, -1)
                                                        for pair in zip(*outputs)]
            if self.dropout and self.training and layer < self.num_layers - 1:
                steps = [F.dropout(x, self.dropout, True) for x in steps]
        h_n = gf.stack(last_h, 0)
        return steps, ((h_n, gf.stack(last_c, 0)) if self.mode == "LSTM" else h_n)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        return text


class RNN(_RNNBase):
    """Elman RNN, h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), as torch.nn.RNN.

    Args:
        input_size, hidden_size: feature sizes.
        num_layers: stacked layers.
        nonlinearity: "tanh" or "relu".
        bias: whether to add b_ih and b_hh.
        batch_first: inputs and outputs are (N, L, H) instead of (L, N, H).
        dropout: dropout on each layer's output but the last, in training.
        bidirectional: also run the sequence backwards and concatenate.

    Returns (forward):
        output (L, N, D * hidden_size) and h_n (D * num_layers, N, hidden_size).

    Example:
        >>> out, h = nn.RNN(4, 8, num_layers=2)(gf.randn(5, 3, 4))
        >>> out.shape, h.shape
        ((5, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


class LSTM(_RNNBase):
    """Long short-term memory, as torch.nn.LSTM (gates i, f, g, o stacked in that order).

    Args: as RNN (no nonlinearity), and proj_size: when positive, each step's hidden
    state is projected to proj_size features, h_t = (o_t * tanh(c_t)) W_hr^T (parameters
    weight_hr_l{k}), as PyTorch. forward(input, (h_0, c_0)) returns output and (h_n, c_n).

    Example:
        >>> out, (h, c) = nn.LSTM(4, 8, batch_first=True)(gf.randn(3, 5, 4))
        >>> out.shape, c.shape
        ((3, 5, 8), (1, 3, 8))
    """

    mode = "LSTM"


class GRU(_RNNBase):
    """Gated recurrent unit, as torch.nn.GRU (gates r, z, n stacked in that order).

    Example:
        >>> out, h = nn.GRU(4, 8, bidirectional=True)(gf.randn(5, 3, 4))
        >>> out.shape, h.shape
        ((5, 3, 16), (2, 3, 8))
    """

    mode = "GRU"


class _CellBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, device=None,
                 dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate_size = _GATES[self.mode] * hidden_size
        dtype = dtype or gf.float32
        self.weight_ih = Parameter(gf.zeros(gate_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(gf.zeros(gate_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(gf.zeros(gate_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(gf.zeros(gate_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        _reset_uniform(self)

    def forward(self, input: Tensor, hx=None):
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise self.input_shape_error(f"(N, {self.input_size}) or ({self.input_size},)",
                                         input.shape)
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            zeros = gf.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.backend)
            hx = (zeros, zeros) if self.mode == "LSTM" else zeros
        elif unbatched:
            hx = tuple(h.unsqueeze(0) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(0)
        if self.mode == "LSTM":
            h, c = hx
        else:
            h, c = cast(Tensor, hx), None
        h, c = _step(self.mode, F.linear(x, self.weight_ih, self.bias_ih), h, c,
                     self.weight_hh, self.bias_hh)
        out = (h, c) if self.mode == "LSTM" and c is not None else h
        if unbatched:
            out = tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)
        return out

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        return text if self.bias else text + ", bias=False"


class RNNCell(_CellBase):
    """One step of RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Example:
        >>> nn.RNNCell(4, 8)(gf.randn(3, 4)).shape
        (3, 8)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                              f"got {nonlinearity!r}")
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + ", nonlinearity=relu"


class LSTMCell(_CellBase):
    """One step of LSTM: returns (h', c'). Example: `h, c = nn.LSTMCell(4, 8)(x, (h, c))`."""

    mode = "LSTM"


class GRUCell(_CellBase):
    """One step of GRU. Example: `h = nn.GRUCell(4, 8)(x, h)`."""

    mode = "GRU"
