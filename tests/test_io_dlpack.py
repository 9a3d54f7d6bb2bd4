"""DLPack: gf.from_dlpack and the export protocol share memory, with no copy."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.errors import DTypeError


def test_from_numpy_is_zero_copy():
    shared = np.arange(4.0, dtype=np.float32)
    t = gf.from_dlpack(shared)
    assert t.device == "cpu" and t.dtype is gf.float32 and t.is_leaf
    shared[0] = 7.0
    assert t.tolist() == [7.0, 1.0, 2.0, 3.0]


def test_numpy_takes_a_gradflow_tensor_without_a_copy():
    t = gf.zeros(3)
    view = np.from_dlpack(t)
    view[1] = 5.0
    assert t.tolist() == [0.0, 5.0, 0.0]


def test_pytorch_both_ways_without_a_copy():
    torch = pytest.importorskip("torch")
    theirs = torch.arange(4, dtype=torch.float64)
    ours = gf.from_dlpack(theirs)
    theirs[2] = -1.0
    assert ours.dtype is gf.float64 and ours.tolist() == [0.0, 1.0, -1.0, 3.0]
    t = gf.ones(2, 2, requires_grad=True)
    back = torch.from_dlpack(t)
    back[0, 0] = 9.0
    assert t.tolist() == [[9.0, 1.0], [1.0, 1.0]]
    y = (gf.from_dlpack(torch.ones(3)) * 2.0).sum()
    assert y.item() == 6.0


def test_explicit_device_and_gradflow_input():
    t = gf.from_dlpack(np.arange(3), device="strict")
    assert t.device == "strict" and t.tolist() == [0, 1, 2]
    same = gf.ones(2)
    assert gf.from_dlpack(same) is same


def test_a_dtype_the_device_lacks_is_a_dtype_error():
    with pytest.raises(DTypeError, match="complex128"):
        gf.from_dlpack(np.zeros(2, np.complex128))
