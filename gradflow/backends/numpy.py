"""The CPU backend: NumPy through array-api-compat, with faster kernels."""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import numpy as np

from gradflow.backends.generic import Backend


class NumpyBackend(Backend):
    def __init__(self):
        super().__init__("cpu", xp_numpy, "cpu")

    def from_host(self, host, dtype=None):
        if dtype is None:
            return np.array(host, copy=True)
        return np.array(host, dtype=self.xp_dtype(dtype), copy=True)

    def to_host(self, array):
        return np.array(array, copy=True)

    def scatter_add_rows(self, values, index, size):
        # NOTE: np.add.at adds repeated indices sequentially in order of
        # occurrence, the same order as the generic kernel: identical sums.
        out = np.zeros((size, *values.shape[1:]), dtype=values.dtype)
        np.add.at(out, index, values)
        return out
