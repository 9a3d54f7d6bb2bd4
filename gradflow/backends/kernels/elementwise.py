"""Deterministic scatter-add and small elementwise kernels, written once on the array API."""

from __future__ import annotations

from typing import Any


class ElementwiseKernels:
    """scatter_add_rows and relu_backward; mixed into Backend (needs xp, device, index_dtype)."""

    # the core backend's (core.py)
    xp: Any
    device: Any
    index_dtype: Any

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
            [xp.ones((1,), dtype=xp.bool, device=self.device),
             sorted_index[1:] != sorted_index[:-1]]
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

    def relu_backward(self, grad, out):
        """grad where out > 0, else 0 (a NaN or Inf gradient at an inactive unit gives 0)."""
        return self.xp.where(out > 0, grad, 0.0)
