"""PyTorch's semantics at the edges (issue 13): pow, integers and bools, reductions,
indexing. Each test states the expected values; where torch is installed, it is asked too."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.errors import DTypeError


def t(values, device, dtype=None, requires_grad=False):
    return gf.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def has_float64(device):
    return gf.float64 in gf.backends.get_backend(device).to_xp


# -- pow ------------------------------------------------------------------------------------


def test_pow_uses_the_backends_pow(device):
    assert (t(-3.0, device) ** t(2.0, device)).item() == 9.0
    three = 3 ** t(3, device)
    assert three.dtype is gf.int64 and three.item() == 27
    assert (0.0 ** t([0.0, 2.0], device)).tolist() == [1.0, 0.0]
    assert (-2.0 ** t([2.0], device)).tolist() == [-4.0]  # Python's precedence: -(2 ** x)
    assert ((-2.0) ** t([2.0, 3.0], device)).tolist() == [4.0, -8.0]
    ints = t([2, -3], device) ** 3
    assert ints.dtype is gf.int64 and ints.tolist() == [8, -27]
    assert (t([2, 3], device) ** t([0, 2], device)).tolist() == [1, 9]
    with pytest.raises(DTypeError, match="negative integer powers"):
        t([2, 3], device) ** -1
    assert (t([2, 4], device) ** 0.5).dtype is gf.float32


def _grads(base, exponent, device):
    x = t(base, device, requires_grad=True)
    e = t(exponent, device, requires_grad=True)
    (x ** e).sum().backward()
    return x.grad.tolist(), e.grad.tolist()


def test_pow_gradients_at_zero_and_negative_bases(device):
    gx, ge = _grads([0.0, 0.0, 0.0, -2.0], [0.0, 2.0, 1.0, 2.0], device)
    assert gx == [0.0, 0.0, 1.0, -4.0]  # d/dx x**0 at 0 is 0; x**2 at 0 is 0
    assert ge[:3] == [0.0, 0.0, 0.0]  # base 0, exponent >= 0: 0 (PyTorch)
    assert np.isnan(ge[3])  # log of a negative base
    x = t([0.0, 0.0], device, requires_grad=True)
    (x ** 0.0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x = t([0.0, -1.5], device, requires_grad=True)
    (x ** 2).sum().backward()
    assert x.grad.tolist() == [0.0, -3.0]


def test_pow_gradients_match_torch():
    torch = pytest.importorskip("torch")
    base = [0.0, 0.0, 0.0, -2.0, 1.5, 0.0]
    exponent = [0.0, 2.0, 1.0, 2.0, -0.5, -1.0]
    ours = _grads(base, exponent, "cpu")
    x = torch.tensor(base, requires_grad=True)
    e = torch.tensor(exponent, requires_grad=True)
    (x ** e).sum().backward()
    np.testing.assert_allclose(ours[0], x.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours[1], e.grad.numpy(), rtol=1e-6)


# -- integers and bools -----------------------------------------------------------------------


def test_true_division_of_integers_is_float32(device):
    out = t([1, 2], device) / t([2, 4], device)
    assert out.dtype is gf.float32 and out.tolist() == [0.5, 0.5]
    assert (t([3], device) / 2).dtype is gf.float32
    assert (t([True], device) / 2).dtype is gf.float32
    assert (7 / t([2], device)).tolist() == [3.5]


def test_floor_divide_remainder_fmod(device):
    a, b = t([7, -7, 7, -7], device), t([2, 2, -2, -2], device)
    assert (a // b).tolist() == [3, -4, -4, 3]
    assert (a % b).tolist() == [1, 1, -1, -1]  # Python's sign: the divisor's
    assert gf.fmod(a, b).tolist() == [1, -1, 1, -1]  # C's sign: the dividend's
    assert a.div(b, rounding_mode="trunc").tolist() == [3, -3, -3, 3]
    assert a.div(b, rounding_mode="floor").tolist() == [3, -4, -4, 3]
    f = t([7.5, -7.5], device, requires_grad=True)
    r = f % 2.0
    assert r.tolist() == [1.5, 0.5]
    r.sum().backward()
    assert f.grad.tolist() == [1.0, 1.0]
    assert gf.fmod(t([7.5, -7.5], device), 2.0).tolist() == [1.5, -1.5]
    assert (5 % t([3, -3], device)).tolist() == [2, -1]


def test_integer_min_max_without_negation(device):
    x = t([0, -2**31], device, dtype=gf.int32)
    assert x.min().item() == -2**31 and x.max().item() == 0
    assert x.amin().item() == -2**31
    assert gf.minimum(x, t([5, 5], device, dtype=gf.int32)).tolist() == [0, -2**31]
    u = t([0, 255], device, dtype=gf.uint8)
    assert u.min().item() == 0 and u.max().item() == 255


def test_bool_min_max(device):
    b = t([True, False, True], device)
    assert b.max().item() is True and b.min().item() is False
    assert b.max().dtype is gf.bool
    assert gf.maximum(b, t([False, False, False], device)).tolist() == [True, False, True]
    assert b.argmax().item() == 0 and b.argmin().item() == 1


def test_invert_bitwise_and_shifts(device):
    b = t([True, False], device)
    assert (~b).tolist() == [False, True]
    i = t([0, 5, -1], device)
    assert (~i).tolist() == [-1, -6, 0]
    assert (i & 4).tolist() == [0, 4, 4]
    assert (i | 2).tolist() == [2, 7, -1]
    assert (i ^ 1).tolist() == [1, 4, -2]
    assert (t([1, 3], device) << 2).tolist() == [4, 12]
    assert (t([-8, 8], device) >> 1).tolist() == [-4, 4]
    assert (b & t([True, True], device)).tolist() == [True, False]
    assert (b ^ True).tolist() == [False, True]
    with pytest.raises(DTypeError, match="bitwise_and"):
        t([1.0], device) & t([1.0], device)


def test_unary_minus_on_bool_is_a_typed_error(device):
    with pytest.raises(DTypeError, match="neg: the unary minus is not defined for bool"):
        -t([True], device)
    with pytest.raises(DTypeError, match="sub: subtracting bool"):
        t([True], device) - t([False], device)


# -- reductions --------------------------------------------------------------------------------


def test_sum_over_no_dims_is_everything(device):
    x = t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.sum(dim=()).item() == 10.0
    assert gf.mean(x, dim=[]).item() == 2.5


def test_axis_and_keepdims_aliases(device):
    x = t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.sum(axis=1).tolist() == [3.0, 7.0]
    assert x.mean(axis=0, keepdims=True).shape == (1, 2)
    assert gf.amax(x, axis=1).tolist() == [2.0, 4.0]
    assert x.max(axis=1).values.tolist() == [2.0, 4.0]
    assert x.std(axis=1, keepdims=True).shape == (2, 1)
    assert x.prod(axis=1).tolist() == [2.0, 12.0]
    with pytest.raises(gf.errors.ConfigError, match="dim or axis"):
        x.sum(1, axis=1)


def test_norm_and_std_of_a_constant_have_gradient_zero(device):
    x = t([0.0, 0.0, 0.0], device, requires_grad=True)
    gf.norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    y = t([2.0, 2.0, 2.0], device, requires_grad=True)
    y.std().backward()
    assert y.grad.tolist() == [0.0, 0.0, 0.0]
    z = t([[1.0, 1.0], [1.0, 3.0]], device, requires_grad=True)
    z.std(dim=1).sum().backward()
    assert z.grad.tolist()[0] == [0.0, 0.0] and abs(z.grad.tolist()[1][1] - 0.70710677) < 1e-6


# -- indexing ------------------------------------------------------------------------------------

KEYS = {
    "array_then_slice": lambda i: (i([0, 2]), slice(1, 3)),
    "slice_then_array": lambda i: (slice(None), i([3, 0, 3])),
    "arrays_apart": lambda i: (i([0, 1]), slice(None), i([1, 2])),
    "arrays_together_late": lambda i: (slice(None), i([0, 2]), i([1, 1])),
    "int_and_array_apart": lambda i: (0, slice(None), i([0, 1])),
    "broadcast_arrays": lambda i: (i([[0], [1]]), slice(None), i([0, 2, 1])),
    "ellipsis_array": lambda i: (Ellipsis, i([1, 0])),
    "none_and_array": lambda i: (None, slice(0, 2), i([2, 2])),
}
EXPECTED_SHAPES = {"array_then_slice": (2, 2, 4), "slice_then_array": (2, 3, 4),
                   "arrays_apart": (2, 3), "arrays_together_late": (2, 2),
                   "int_and_array_apart": (3, 2), "broadcast_arrays": (2, 3, 3),
                   "ellipsis_array": (2, 3, 4, 2)[:3] + (2,), "none_and_array": (1, 2, 2, 4)}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_index_arrays_among_slices(name, device):
    data = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    if name in ("array_then_slice", "slice_then_array", "broadcast_arrays", "none_and_array"):
        data = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    key = KEYS[name](lambda v: gf.tensor(v, device=device))
    x = t(data, device, requires_grad=True)
    out = x[key]
    torch = pytest.importorskip("torch") if name == "int_and_array_apart" else None
    np_key = KEYS[name](np.asarray)
    if torch is not None:  # ints are basic indices in PyTorch, unlike NumPy: ask torch
        expected = torch.tensor(data)[KEYS[name](torch.tensor)].numpy()
    else:
        expected = data[np_key]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    out.sum().backward()
    counts = np.zeros_like(data)
    np.add.at(counts, np_key if torch is None else (0, slice(None), [0, 1]), 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), counts)


def test_index_placement_matches_torch():
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(0).standard_normal((3, 4, 4, 5)).astype(np.float32)
    for make in KEYS.values():
        key = make(lambda v: v)
        ours = gf.tensor(data)[tuple(gf.tensor(k) if isinstance(k, list) else k for k in key)]
        theirs = torch.tensor(data)[tuple(torch.tensor(k) if isinstance(k, list) else k
                                          for k in key)]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_setitem_with_integer_index_arrays(device):
    x = gf.zeros(3, 4, device=device)
    x[gf.tensor([0, 2], device=device), 1:3] = 5.0
    assert x.tolist() == [[0, 5, 5, 0], [0, 0, 0, 0], [0, 5, 5, 0]]
    base = gf.zeros(4, device=device, requires_grad=True)
    value = gf.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = base * 1.0
    y[gf.tensor([1, 3, 1], device=device)] = value  # position 1 twice: the last value wins
    assert y.tolist() == [0.0, 3.0, 0.0, 2.0]
    (y * gf.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    assert base.grad.tolist() == [1.0, 0.0, 3.0, 0.0]
    assert value.grad.tolist() == [0.0, 4.0, 2.0]


def test_accumulating_put_sums_repeats_in_order(device):
    x = gf.zeros(3, device=device, requires_grad=True)
    v = gf.tensor([0.1, 1e8, -1e8, 0.2], device=device, requires_grad=True)
    out = gf.index_put(x, (gf.tensor([0, 0, 0, 2], device=device),), v, accumulate=True)
    f = np.float32
    in_order = (f(0.1) + f(1e8)) + f(-1e8)  # 0.0 in float32: the 0.1 is absorbed first
    assert out.numpy().tolist() == np.array([in_order, 0.0, 0.2], dtype=np.float32).tolist()
    out.sum().backward()
    assert v.grad.tolist() == [1.0] * 4 and x.grad.tolist() == [1.0] * 3


def test_negative_pad_crops(device):
    x = t(np.arange(12.0).reshape(3, 4), device, dtype=gf.float32, requires_grad=True)
    out = gf.pad(x, (-1, 2, 0, -2), value=-1.0)
    assert out.tolist() == [[1.0, 2.0, 3.0, -1.0, -1.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 1.0, 1.0], [0.0] * 4, [0.0] * 4]
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.pad(torch.arange(12.0).reshape(3, 4), (-1, 2, 0, -2), value=-1.0)
    assert out.tolist() == expected.tolist()


# -- NumPy interop and method forms ---------------------------------------------------------------


def test_numpy_array_protocol(device):
    x = t([1.0, 2.0], device)
    host = np.asarray(x)
    assert host.dtype == np.float32 and host.tolist() == [1.0, 2.0]
    assert isinstance(np.exp(x), gf.Tensor) and np.exp(x).device == x.device
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    if device == "cpu":
        assert np.asarray(x, copy=False).tolist() == [1.0, 2.0]
    else:
        with pytest.raises(ValueError, match="without a copy"):
            np.asarray(x, copy=False)


def test_method_forms_and_casts(device):
    x = t([[1.0, -2.0], [3.0, 4.0]], device)
    assert x.div(2).tolist() == [[0.5, -1.0], [1.5, 2.0]]
    assert x.mul(x).sub(1).add(1).tolist() == (x * x).tolist()
    assert x.true_divide(2).tolist() == x.divide(2).tolist()
    assert x.multiply(2).tolist() == x.mul(2).tolist()
    assert x.subtract(1).tolist() == (x - 1).tolist()
    assert x.neg().tolist() == (-x).tolist() and x.exp().tolist() == gf.exp(x).tolist()
    assert x.isclose(x + 1e-9).all().item() and x.roll(1).tolist() == [[4.0, 1.0], [-2.0, 3.0]]
    assert x.tril().tolist() == [[1.0, 0.0], [3.0, 4.0]] and x.flip(0).tolist()[0] == [3.0, 4.0]
    assert (x % 3).tolist() == [[1.0, 1.0], [0.0, 1.0]] and x.prod().item() == -24.0
    assert x.type(gf.int32).dtype is gf.int32 and x.type() == "gradflow.float32"
    assert x.long().dtype is gf.int64 and x.int().dtype is gf.int32 and x.bool().dtype is gf.bool
    assert x.float().dtype is gf.float32
    assert x.where(x > 0, 0.0).tolist() == [[1.0, 0.0], [3.0, 4.0]]
    assert x.gather(1, gf.tensor([[1], [0]], device=device)).tolist() == [[-2.0], [3.0]]
    assert x.sort(dim=1).values.tolist() == [[-2.0, 1.0], [3.0, 4.0]]


def test_new_tensor_methods_follow_the_source(device):
    x = t([1.0, 2.0], device)
    for made in (x.new_zeros(2, 3), x.new_ones((2, 3)), x.new_full((2, 3), 7.0),
                 x.new_empty(2, 3)):
        assert made.shape == (2, 3) and made.dtype is gf.float32 and made.device == x.device
    assert x.new_ones(2).tolist() == [1.0, 1.0] and x.new_full((1,), 7.0).tolist() == [7.0]
    assert x.new_tensor([3, 4]).dtype is gf.float32
    assert x.new_zeros(2, dtype=gf.int64).dtype is gf.int64
    assert t([[1.0, 2.0]], device).t().shape == (2, 1)
