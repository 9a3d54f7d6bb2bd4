"""Host-side conversion of user data (lists, scalars, NumPy, other arrays) to NumPy."""

from __future__ import annotations

import numbers

import numpy as np

from gradflow import dtypes as _dt
from gradflow.errors import DTypeError, ShapeError

_NUMPY_KINDS = {"f", "i", "u", "b"}


def as_host_array(data) -> np.ndarray:
    """Convert Python data or any array to a NumPy array, refusing what no tensor can hold.

    Raises ShapeError for ragged nesting and DTypeError for strings, objects and complex numbers.
    """
    if isinstance(data, np.ndarray):
        array = data
    elif isinstance(data, (bool, numbers.Integral, numbers.Real)) and not isinstance(data, complex):
        array = np.asarray(data)
    elif hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
        try:
            array = np.from_dlpack(data)
        except Exception:
            array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise ShapeError(
                f"tensor(): nested sequences of unequal lengths cannot form a tensor ({exc})"
            ) from None
    if array.dtype.kind not in _NUMPY_KINDS and array.dtype.name != "bfloat16":  # ml_dtypes
        what = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers"}.get(
            array.dtype.kind, f"dtype {array.dtype}"
        )
        raise DTypeError(
            f"tensor(): cannot make a tensor from {what}; give numbers, booleans or a numeric array"
        )
    return array


def default_dtype_for(array: np.ndarray, from_python: bool) -> _dt.DType:
    """PyTorch's rule: Python floats become float32, NumPy arrays keep their dtype."""
    kind = array.dtype.kind
    if kind == "b":
        return _dt.bool_
    if kind in "iu":
        if array.dtype == np.uint8 and not from_python:
            return _dt.uint8
        return _dt.int64 if from_python else _dt.by_name(array.dtype.name) if array.dtype.name in (
            "int8", "int16", "int32", "int64") else _dt.int64
    if from_python:
        return _dt.float32
    name = array.dtype.name
    kept = ("float16", "bfloat16", "float32", "float64")
    return _dt.by_name(name) if name in kept else _dt.float32
