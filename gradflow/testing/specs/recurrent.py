"""Specs for the recurrent step ops (gradflow/ops/recurrent.py): one LSTM and one GRU
step's gate math, with NumPy references written from torch.nn.LSTM's and torch.nn.GRU's
formulas, and torch references built from the same primitives in PyTorch."""

from __future__ import annotations

import numpy as np

from gradflow.ops.recurrent import gru_cell_step, lstm_cell_step
from gradflow.testing.registry import Sample, op, rng

R = rng(35)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_lstm_cell_step(gates, c):
    i, f, g, o = np.split(gates, 4, axis=-1)
    cell = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
    return np.stack((_np_sigmoid(o) * np.tanh(cell), cell))


def np_gru_cell_step(x_gates, h_gates, h):
    x_r, x_z, x_n = np.split(x_gates, 3, axis=-1)
    h_r, h_z, h_n = np.split(h_gates, 3, axis=-1)
    r, z = _np_sigmoid(x_r + h_r), _np_sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return n + z * (h - n)


def torch_lstm_cell_step(torch, gates, c):
    i, f, g, o = gates.chunk(4, -1)
    cell = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.stack((torch.sigmoid(o) * torch.tanh(cell), cell))


def torch_gru_cell_step(torch, x_gates, h_gates, h):
    x_r, x_z, x_n = x_gates.chunk(3, -1)
    h_r, h_z, h_n = h_gates.chunk(3, -1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return n + z * (h - n)


def _samples(gates: int, gate_inputs: int):
    """(gate pre-activations..., state) for a batch of 3, one sequence, and a 2 x 3 batch."""
    def normal(*shape):
        return np.asarray(R.standard_normal(shape))

    return [Sample((*(normal(*batch, gates * size) for _ in range(gate_inputs)),
                    normal(*batch, size)), label=label)
            for batch, size, label in [((3,), 2, "batch"), ((), 3, "unbatched"),
                                       ((2, 3), 2, "3d")]]


op("lstm_cell_step", lstm_cell_step, _samples(4, 1), np_lstm_cell_step,
   torch_reference=torch_lstm_cell_step)
op("gru_cell_step", gru_cell_step, _samples(3, 2), np_gru_cell_step,
   torch_reference=torch_gru_cell_step)
