"""The core of every backend: an array namespace on one device, its dtypes, host transfers
and the workspace its kernels take temporaries from. Kernels live in backends/kernels/."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradflow import dtypes as _dt
from gradflow.backends.workspace import Workspace
from gradflow.errors import DTypeError

# Backend code may use NumPy for host transfers (docs/design.md, contract 1).


class ArrayBackend:
    """An array namespace on one device.

    Attributes:
        name: canonical device name ("cpu", "strict:device1", "cuda:0").
        xp: the array-API namespace.
        device: the namespace's device object, passed to creation functions.
        workspace: where kernels take temporaries and give back buffers (workspace.py).
    """

    inplace = True  # arrays accept in-place updates (x[...] = v, x += v)

    def __init__(self, name: str, xp, device):
        self.name = name
        self.xp = xp
        self.device = device
        self.to_xp: dict[_dt.DType, Any] = {}  # the namespace's dtype objects
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
        self.workspace = Workspace(xp, device)
        # NOTE: the namespace's array type, and what it gives instead of an array for some
        # 0-d results (NumPy's scalars: a reduction to 0-d, any op on a 0-d array), which
        # Tensor._wrap makes 0-d arrays (a scalar cannot be written in place or viewed)
        self.array_type = type(xp.zeros((1,), device=device))
        self.scalar_types: tuple[type, ...] = ()
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
                raise DTypeError(f"expected a gradflow dtype such as gf.float32, "
                                 f"got {dtype!r}") from None
            have = ", ".join(d.name for d in self.to_xp)
            raise DTypeError(
                f"device {self.name!r} has no {dtype.name}; it supports {have}"
            ) from None


    def from_host(self, host: np.ndarray, dtype: _dt.DType | None = None):
        """Copy a NumPy array onto this device (optionally casting)."""
        xp_dtype = None if dtype is None else self.xp_dtype(dtype)
        return self.xp.asarray(host, dtype=xp_dtype, device=self.device)

    def own(self, array):
        """`array` itself if it is writable and nothing else can see its memory, else a
        copy: what a tensor's `.grad` holds. Generic: always a copy."""
        return self.xp.asarray(array, copy=True)

    def to_host(self, array) -> np.ndarray:
        """A NumPy copy of an array of this backend."""
        return np.asarray(array).copy()

    def recycle(self, array) -> None:
        """The caller owns `array` (conv2d_forward's columns) and no longer needs it: the
        workspace may hand its memory out again (workspace.give_back)."""
        self.workspace.give_back(array)

    def matmul(self, a, b, scratch: str | None = None):
        """a @ b; with `scratch`, the product is a temporary that may live in a workspace
        buffer of that name (valid until the next product of that name)."""
        return self.xp.matmul(a, b)
