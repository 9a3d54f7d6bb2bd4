"""Bugs that the type check (pyright over gradflow/, `make lint`) brought to light."""

import math

import pytest

import gradflow as gf
from gradflow.errors import ArgumentTypeError


def _t(values, device):
    return gf.tensor(values, device=device)


@pytest.mark.parametrize("scalar_first", [True, False])
def test_hypot_and_logaddexp2_take_one_python_scalar(device, scalar_first):
    # mul(scalar, constant) used to run on the scalar operand: AttributeError
    x = _t([3.0, -1.0], device)
    hypot = gf.hypot(4.0, x) if scalar_first else gf.hypot(x, 4.0)
    assert hypot.tolist() == pytest.approx([5.0, math.hypot(4.0, 1.0)])
    both = gf.logaddexp2(1.0, x) if scalar_first else gf.logaddexp2(x, 1.0)
    expected = [math.log2(2.0 ** 1.0 + 2.0 ** v) for v in (3.0, -1.0)]
    assert both.tolist() == pytest.approx(expected, rel=1e-6)
    assert hypot.device == both.device == x.device


@pytest.mark.parametrize("op", ["add", "sub", "mul", "pow", "atan2", "logaddexp", "logaddexp2",
                                "hypot", "copysign", "xlogy", "fmod", "remainder"])
def test_a_binary_op_on_two_python_numbers_is_a_typed_error(op):
    # was AttributeError ('float' object has no attribute 'backend'/'shape')
    with pytest.raises(ArgumentTypeError, match=r"expected a tensor operand.*gf\.tensor"):
        getattr(gf, op)(1.0, 2.0)
    assert issubclass(ArgumentTypeError, TypeError)  # as PyTorch: a TypeError


def test_max_pool2d_indices_unbatched(device):
    x = _t([[[1.0, 5.0], [3.0, 2.0]]], device)  # (C, H, W): no batch dimension
    values, indices = gf.nn.functional.max_pool2d(x, 2, return_indices=True)
    assert values.shape == indices.shape == (1, 1, 1)
    assert values.item() == 5.0 and indices.item() == 1
    assert gf.nn.functional.max_pool2d(x, 2).shape == (1, 1, 1)
