"""Property tests: random broadcast shapes and values for elementwise ops and reductions.

For every example: backward agrees with central finite differences (float64), and the
values and gradients on "cpu" and "strict:device1" are identical to the last bit (float32
and float64). Shapes are 0-d to 3-d with sizes 1 to 4.

Profiles: "gradflow-default" (25 examples per test) runs by default; HYPOTHESIS_PROFILE=slow
runs many more:
    HYPOTHESIS_PROFILE=slow python -m pytest tests/test_properties.py
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradflow as gf
from gradflow.testing import gradcheck

settings.register_profile("gradflow-default", max_examples=25, deadline=None, database=None)
settings.register_profile("slow", max_examples=300, deadline=None, database=None)
# NOTE: applied per test (not settings.load_profile) so other modules' settings stay theirs.
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "gradflow-default"))

DEVICES = ("cpu", "strict:device1")


# -- strategies ------------------------------------------------------------------------------


def values(shape, low=-3.0, high=3.0):
    return hnp.arrays(np.float64, shape,
                      elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


def away_from_zero(shape):
    magnitude = st.floats(0.5, 3.0)
    return hnp.arrays(np.float64, shape,
                      elements=st.one_of(magnitude, magnitude.map(lambda v: -v)))


pairs_of_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    min_side=1, max_side=4)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def quarter_grid(shape):
    return hnp.arrays(np.float64, shape, elements=st.integers(-12, 12).map(lambda k: k / 4))


def offset_grid(shape):
    # NOTE: an eighth off the quarter grid: never within 1/8 of a quarter_grid value, so
    # maximum has no ties (where it is not differentiable)
    return hnp.arrays(np.float64, shape,
                      elements=st.integers(-12, 11).map(lambda k: k / 4 + 0.125))


def distinct(shape):
    # NOTE: values 0.01 apart at least, so amax has no tied maxima to share the gradient
    return hnp.arrays(np.float64, shape, elements=st.integers(-300, 300).map(lambda k: k / 100),
                      unique=True)


@st.composite
def operand_pairs(draw, first=values, second=values):
    a_shape, b_shape = draw(pairs_of_shapes).input_shapes
    return draw(first(a_shape)), draw(second(b_shape))


@st.composite
def reduction_cases(draw, elements=values):
    """(array, dim, keepdim) with dim None, one axis (possibly negative) or a tuple of axes."""
    shape = draw(shapes)
    ndim = len(shape)
    if ndim == 0:
        dim = draw(st.sampled_from([None, 0, -1]))
    else:
        dim = draw(st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                     unique=True).map(tuple),
        ))
    return draw(elements(shape)), dim, draw(st.booleans())


# -- the checks ---------------------------------------------------------------------------------


def run(fn, hosts, device, dtype):
    """fn's value and its inputs' gradients (for a fixed random cotangent), as host arrays."""
    inputs = [gf.tensor(h, dtype=dtype, device=device, requires_grad=True) for h in hosts]
    out = fn(*inputs)
    cotangent = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(gf.tensor(cotangent, dtype=dtype, device=device))
    return [out.numpy()] + [t.grad.numpy() for t in inputs]


def assert_bit_identical(reference, other, what: str) -> None:
    for index, (a, b) in enumerate(zip(reference, other)):
        name = "value" if index == 0 else f"gradient of input {index - 1}"
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {name} metadata differs"
        assert a.tobytes() == b.tobytes(), (
            f"{what}: {name} differs between devices, max abs difference "
            f"{np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))}")


def check(fn, *hosts) -> None:
    gradcheck(fn, [gf.tensor(h, dtype=gf.float64, requires_grad=True) for h in hosts])
    for dtype in (gf.float32, gf.float64):
        reference = run(fn, hosts, DEVICES[0], dtype)
        for device in DEVICES[1:]:
            assert_bit_identical(reference, run(fn, hosts, device, dtype),
                                 f"{DEVICES[0]} vs {device}, {dtype.name}")


# -- elementwise binary ops, with broadcasting -----------------------------------------------------


@PROFILE
@given(operand_pairs())
def test_add(pair):
    check(lambda a, b: a + b, *pair)


@PROFILE
@given(operand_pairs())
def test_sub(pair):
    check(lambda a, b: a - b, *pair)


@PROFILE
@given(operand_pairs())
def test_mul(pair):
    check(lambda a, b: a * b, *pair)


@PROFILE
@given(operand_pairs(second=away_from_zero))
def test_div(pair):
    check(lambda a, b: a / b, *pair)


@PROFILE
@given(operand_pairs(first=quarter_grid, second=offset_grid))
def test_maximum(pair):
    check(gf.maximum, *pair)


# -- elementwise unary ops ----------------------------------------------------------------------


@PROFILE
@given(shapes.flatmap(values))
def test_tanh(a):
    check(gf.tanh, a)


@PROFILE
@given(shapes.flatmap(lambda shape: values(shape, -8.0, 8.0)))
def test_sigmoid(a):
    check(gf.sigmoid, a)


@PROFILE
@given(shapes.flatmap(values))
def test_exp(a):
    check(gf.exp, a)


# -- reductions over random dims -----------------------------------------------------------------


@PROFILE
@given(reduction_cases())
def test_sum(case):
    a, dim, keepdim = case
    check(lambda t: t.sum(dim=dim, keepdim=keepdim), a)


@PROFILE
@given(reduction_cases())
def test_mean(case):
    a, dim, keepdim = case
    check(lambda t: t.mean(dim=dim, keepdim=keepdim), a)


@PROFILE
@given(reduction_cases(elements=distinct))
def test_amax(case):
    a, dim, keepdim = case
    check(lambda t: t.amax(dim=dim, keepdim=keepdim), a)


@PROFILE
@given(reduction_cases(), st.booleans())
def test_reduction_shapes_follow_numpy(case, use_mean):
    a, dim, keepdim = case
    reduce = np.mean if use_mean else np.sum
    axis = None if dim is None else dim
    if a.ndim == 0 and axis is not None:
        axis = None  # NumPy has no axis on 0-d arrays; gradflow accepts 0 and -1 as PyTorch
    expected = reduce(a, axis=axis, keepdims=keepdim)
    got = (gf.tensor(a).mean if use_mean else gf.tensor(a).sum)(dim=dim, keepdim=keepdim)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
