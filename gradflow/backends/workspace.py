"""Where kernels take their temporaries, and where a caller gives buffers back for reuse.

A kernel's temporaries (padded inputs, products, column gradients) die within the call;
conv2d's columns live until the backward pass that reads them. The generic workspace makes
fresh arrays for both. The reusing workspace (the CPU backend's) keeps buffers per thread and
name, grown as needed, and shelves given-back columns to hand out for the next columns of
that shape: on virtual machines touching newly mapped pages costs more than the arithmetic
(docs/benchmarking.md).

Reuse is decided by ownership, never by counting references: `scratch(name)` is valid
until the next `scratch(name)` on the same thread, and `give_back(array)` is called only by
the array's sole owner (the conv node that made the columns, when it releases them).
"""

from __future__ import annotations

import math
import threading

# NOTE: two shelved arrays per shape cover a forward and a backward of the same layer in
# flight; more would only keep memory nobody asks for.
_SHELF_DEPTH = 2


class Workspace:
    """Fresh arrays for every request: the generic behaviour, right for every namespace.

    Args:
        xp: the array namespace.
        device: the namespace's device object.
    """

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device

    def scratch(self, name: str, shape, dtype, fill=None):
        """An array for a temporary that dies within the kernel call (filled if asked)."""
        if fill is None:
            return self.xp.empty(shape, dtype=dtype, device=self.device)
        return self.xp.full(shape, fill, dtype=dtype, device=self.device)

    def columns(self, shape, dtype):
        """An array for columns that outlive the call (conv2d's, kept for backward)."""
        return self.xp.empty(shape, dtype=dtype, device=self.device)

    def give_back(self, array) -> None:
        """The caller, `array`'s sole owner, no longer needs it. Nothing happens here."""


class ReusingWorkspace(Workspace):
    """Buffers kept per thread and name, and a shelf of given-back columns (NumPy arrays)."""

    def __init__(self, xp, device, np):
        super().__init__(xp, device)
        self._np = np
        self._local = threading.local()

    def _store(self) -> dict:
        store = self._local.__dict__
        if not store:
            store.update(buffers={}, shelf={})
        return store

    def scratch(self, name, shape, dtype, fill=None):
        np = self._np
        buffers = self._store()["buffers"]
        size = math.prod(shape)
        key = (name, np.dtype(dtype))
        flat = buffers.get(key)
        if flat is None or flat.size < size:
            flat = buffers[key] = np.empty(size, dtype)
        out = flat[:size].reshape(shape)
        if fill is not None:
            out.fill(fill)
        return out

    def columns(self, shape, dtype):
        kept = self._store()["shelf"].get((tuple(shape), self._np.dtype(dtype)))
        return kept.pop() if kept else self._np.empty(shape, dtype)

    def give_back(self, array) -> None:
        if not array.flags.c_contiguous:  # kept (and handed out again) C-contiguous
            array = array.T
            if not array.flags.c_contiguous:
                return
        kept = self._store()["shelf"].setdefault((array.shape, array.dtype), [])
        if len(kept) < _SHELF_DEPTH:
            kept.append(array)
