"""Type promotion equals torch.result_type over the whole table (issue 13), on every device."""

import warnings

import numpy as np
import pytest

import gradflow as gf
from tests.promotion_table import TABLE

PYTHON = {"bool": True, "int": 3, "float": 2.5}


def operand(kind: str, name: str, device: str):
    if kind == "py":
        return PYTHON[name]
    if kind == "np":
        return getattr(np, "bool_" if name == "bool" else name)(1)
    dtype = getattr(gf, name)
    shape = (2,) if kind == "dim" else ()
    return gf.ones(shape, dtype=dtype, device=device)


def _has(device: str, *names) -> bool:
    supported = gf.backends.get_backend(device).to_xp
    return all(getattr(gf, n) in supported for n in names if n not in PYTHON)


def test_result_type_over_the_table(device):
    checked = 0
    wrong = []
    for key, expected in TABLE.items():
        (ka, a), (kb, b) = (part.split(":") for part in key.split())
        if not _has(device, a, b, expected):
            continue
        x, y = operand(ka, a, device), operand(kb, b, device)
        got = gf.result_type(x, y).name
        # the ops themselves produce that dtype (maximum: defined for bool too)
        produced = gf.maximum(x, y).dtype.name
        if got != expected or produced != expected:
            wrong.append(f"{key}: result_type {got}, maximum gives {produced}, torch {expected}")
        checked += 1
    assert not wrong, "\n".join(wrong[:20])
    assert checked > 200  # float16/float64-less devices still check most of the table


def test_the_stored_table_is_pytorchs():
    torch = pytest.importorskip("torch")
    warnings.simplefilter("ignore")
    for key, expected in TABLE.items():
        (ka, a), (kb, b) = (part.split(":") for part in key.split())

        def make(kind, name):
            if kind in ("py", "np"):
                return operand(kind, name, "cpu")
            return torch.ones((2,) if kind == "dim" else (), dtype=getattr(torch, name))

        x, y = make(ka, a), make(kb, b)
        if kb in ("py", "np"):  # torch.result_type does not take NumPy scalars: the op decides
            got = (x | y if kb == "py" and a == b == "bool" else x + y).dtype
        else:
            got = torch.result_type(x, y)
        assert str(got).replace("torch.", "") == expected, key


def test_the_issues_examples(device):
    u = gf.tensor([10], dtype=gf.uint8, device=device)
    i = gf.tensor([-20], dtype=gf.int8, device=device)
    out = u + i
    assert out.dtype is gf.int16 and out.tolist() == [-10]
    out = gf.tensor(True, device=device) * gf.tensor([5, -3], dtype=gf.int8, device=device)
    assert out.dtype is gf.int8 and out.tolist() == [5, -3]
    assert not bool(gf.tensor(True, device=device) == gf.tensor(7, dtype=gf.uint8, device=device))
    both = gf.cat([gf.tensor([True], device=device), gf.tensor([7], dtype=gf.uint8, device=device)])
    assert both.dtype is gf.uint8 and both.tolist() == [1, 7]
    x = gf.ones(2, device=device, requires_grad=True)
    y = x * np.float64(2)
    assert y.dtype is gf.float32
    y.sum().backward()
    assert x.grad.dtype is gf.float32 and x.grad.tolist() == [2.0, 2.0]
    if _has(device, "float64"):
        z = x + gf.tensor(1.0, dtype=gf.float64, device=device)
        assert z.dtype is gf.float32
        w = gf.ones(2, dtype=gf.int8, device=device) + gf.tensor(1.0, dtype=gf.float64,
                                                                 device=device)
        assert w.dtype is gf.float64


def test_promote_types_and_can_cast():
    assert gf.promote_types(gf.uint8, gf.int8) is gf.int16
    assert gf.promote_types(gf.float16, gf.bfloat16) is gf.float32
    assert gf.promote_types(gf.bool, gf.int32) is gf.int32
    assert gf.can_cast(gf.int64, gf.float16) and not gf.can_cast(gf.float32, gf.int64)
    with pytest.raises(gf.errors.DTypeError, match="neither a tensor nor a scalar"):
        gf.result_type(gf.ones(2), "2")
