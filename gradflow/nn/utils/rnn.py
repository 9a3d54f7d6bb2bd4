"""Packed sequences: a batch of sequences of different lengths without their padding, as
torch.nn.utils.rnn has them; RNN, LSTM and GRU take and return them.

A PackedSequence holds the time steps one after another, each with the sequences still
running at it (longest first): `data` (sum of the lengths, *), `batch_sizes` (how many
sequences each step holds), and, when the batch was sorted by length here,
`sorted_indices` (the batch's order by decreasing length) and `unsorted_indices` (its
inverse). Packing and unpacking are one gather each (index_select), so gradients flow
through both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import gradflow as gf
from gradflow.errors import ConfigError, ShapeError
from gradflow.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence"]


class PackedSequence(NamedTuple):
    """Sequences of different lengths packed by time step (see the module docstring).

    Example:
        >>> packed = pack_sequence([gf.ones(3, 2), gf.ones(1, 2)])
        >>> packed.data.shape, packed.batch_sizes.tolist()
        ((4, 2), [2, 1, 1])
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, device) -> PackedSequence:
        """The same sequences with data and indices on `device` (batch_sizes stay on the
        CPU, as PyTorch keeps them)."""
        def move(t):
            return None if t is None else t.to(device)

        return PackedSequence(self.data.to(device), self.batch_sizes, move(self.sorted_indices),
                              move(self.unsorted_indices))


def _indices(values: list[int], device) -> Tensor:
    return gf.tensor(values, dtype=gf.int64, device=device)


def _lengths(lengths, op: str) -> list[int]:
    values = lengths.tolist() if isinstance(lengths, Tensor) else list(lengths)
    if any(isinstance(v, list) for v in values):
        raise ShapeError(f"{op}: lengths must be 1-d, one per sequence, got {lengths!r}")
    return [int(v) for v in values]


def _gather_rows(rows: Tensor, source: list[int], shape: tuple, padding_value: float) -> Tensor:
    """A tensor of `shape` whose leading positions (flattened) hold rows[source[k]], and
    padding_value where source[k] == len(rows)."""
    pad = gf.full((1, *rows.shape[1:]), padding_value, dtype=rows.dtype, device=rows.device)
    gathered = gf.index_select(gf.cat([rows, pad], 0), 0, _indices(source, rows.device))
    return gathered.reshape(*shape)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of sequences, as torch.nn.utils.rnn.pack_padded_sequence.

    Args:
        input: (L, B, *) padded sequences, or (B, L, *) with batch_first.
        lengths: each sequence's length (a list or a 1-d integer tensor), each in 1..L.
        batch_first: the input's batch dimension comes first.
        enforce_sorted: lengths must already decrease; with False the batch is sorted
            here and sorted_indices/unsorted_indices record the order.

    Returns:
        A PackedSequence.

    Example:
        >>> packed = pack_padded_sequence(gf.ones(3, 2, 4), [3, 1])
        >>> packed.data.shape, packed.batch_sizes.tolist()
        ((4, 4), [2, 1, 1])
    """
    op = "pack_padded_sequence"
    values = _lengths(lengths, op)
    if input.ndim < 2:
        raise ShapeError(f"{op}: the input must have a time and a batch dimension, got shape "
                         f"{input.shape}")
    x = input.transpose(0, 1) if batch_first else input
    steps, batch = x.shape[0], x.shape[1]
    if len(values) != batch:
        raise ShapeError(f"{op}: {len(values)} lengths for a batch of {batch} sequences "
                         f"(input shape {input.shape}, batch_first={batch_first})")
    bad = [v for v in values if not 0 < v <= steps]
    if bad:
        raise ShapeError(f"{op}: every length must lie in 1..{steps} (the input's time "
                         f"dimension), got {bad} in lengths {values}")
    if enforce_sorted:
        if any(a < b for a, b in zip(values, values[1:])):
            raise ConfigError(f"{op}: lengths {values} do not decrease; sort the batch by "
                              "decreasing length or pass enforce_sorted=False")
        order, sorted_indices, unsorted_indices = list(range(batch)), None, None
    else:
        order = sorted(range(batch), key=lambda b: -values[b])
        inverse = [0] * batch
        for position, b in enumerate(order):
            inverse[b] = position
        sorted_indices = _indices(order, x.device)
        unsorted_indices = _indices(inverse, x.device)
    longest = values[order[0]]
    sizes = [sum(v > t for v in values) for t in range(longest)]
    source = [t * batch + order[j] for t, size in enumerate(sizes) for j in range(size)]
    rows = x.reshape(steps * batch, *x.shape[2:])
    data = gf.index_select(rows, 0, _indices(source, x.device))
    return PackedSequence(data, _indices(sizes, "cpu"), sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """Unpack a PackedSequence into padded sequences, as PyTorch's pad_packed_sequence.

    Args:
        sequence: what pack_padded_sequence (or an RNN) returned.
        batch_first: return (B, L, *) instead of (L, B, *).
        padding_value: the value of the positions past each sequence's end.
        total_length: pad to this many steps (at least the longest length).

    Returns:
        (padded, lengths): lengths an int64 tensor on the CPU, in the batch's own order.

    Example:
        >>> padded, lengths = pad_packed_sequence(pack_padded_sequence(gf.ones(3, 2, 4), [3, 1]))
        >>> padded.shape, lengths.tolist()
        ((3, 2, 4), [3, 1])
    """
    data, sizes = sequence.data, sequence.batch_sizes.tolist()
    steps, batch = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ShapeError(f"pad_packed_sequence: total_length={total_length} is shorter "
                             f"than the longest sequence ({steps} steps)")
        steps = total_length
    order = list(range(batch)) if sequence.sorted_indices is None \
        else sequence.sorted_indices.tolist()
    rows = data.shape[0]
    source = [rows] * (steps * batch)
    lengths = [0] * batch
    row = 0
    for t, size in enumerate(sizes):
        for j in range(size):
            b = order[j]
            source[(b * steps + t) if batch_first else (t * batch + b)] = row
            lengths[b] += 1
            row += 1
    shape = (batch, steps) if batch_first else (steps, batch)
    padded = _gather_rows(data, source, (*shape, *data.shape[1:]), padding_value)
    return padded, _indices(lengths, "cpu")


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Pad sequences of shapes (L_i, *) to one tensor, as PyTorch's pad_sequence.

    Args:
        sequences: tensors whose shapes differ only in their first dimension.
        batch_first: return (B, L, *) instead of (L, B, *), L the longest length.
        padding_value: the value of the padded positions.
        padding_side: "right" (padding after each sequence) or "left".

    Returns:
        The padded batch.

    Example:
        >>> pad_sequence([gf.ones(3), gf.ones(1)], batch_first=True).tolist()
        [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    """
    op = "pad_sequence"
    sequences = list(sequences)
    if not sequences:
        raise ConfigError(f"{op}: no sequences given")
    if padding_side not in ("right", "left"):
        raise ConfigError(f"{op}: padding_side must be 'right' or 'left', got {padding_side!r}")
    trailing = sequences[0].shape[1:]
    for k, s in enumerate(sequences):
        if s.ndim < 1 or s.shape[1:] != trailing:
            raise ShapeError(f"{op}: sequence {k} has shape {s.shape}; every sequence must be "
                             f"(length, *{trailing}) like sequence 0")
    lengths = [s.shape[0] for s in sequences]
    steps, batch = max(lengths), len(sequences)
    source = [sum(lengths)] * (steps * batch)
    offset = 0
    for b, length in enumerate(lengths):
        start = 0 if padding_side == "right" else steps - length
        for k in range(length):
            t = start + k
            source[(b * steps + t) if batch_first else (t * batch + b)] = offset + k
        offset += length
    shape = (batch, steps) if batch_first else (steps, batch)
    return _gather_rows(gf.cat(sequences, 0), source, (*shape, *trailing), padding_value)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *), as PyTorch's pack_sequence.

    Example:
        >>> pack_sequence([gf.ones(1, 2), gf.ones(3, 2)], enforce_sorted=False).batch_sizes.tolist()
        [2, 1, 1]
    """
    sequences = list(sequences)
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)
