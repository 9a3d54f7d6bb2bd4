"""conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d and their layers: values against
loop references and PyTorch, float64 gradients and second derivatives, the same results on
every device, and the errors."""

import math
import warnings

import numpy as np
import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow import nn
from gradflow.backends import get_backend
from gradflow.errors import BackendUnavailableError, ConfigError, DTypeError, ShapeError
from gradflow.testing.gradcheck import gradcheck, gradgradcheck
from gradflow.testing.specs.conv import (
    np_adaptive_avg_pool2d,
    np_avg_pool2d,
    np_conv2d,
    np_max_pool2d,
)

DEVICES = ["cpu", "strict", "strict:device1", pytest.param("cuda", marks=pytest.mark.gpu)]
RNG = np.random.default_rng(3)


def _use(device):
    try:
        get_backend(device)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return device


def _normal(*shape):
    return RNG.standard_normal(shape)


def _distinct(*shape):
    return RNG.permutation(np.linspace(-3.0, 3.0, int(np.prod(shape)))).reshape(shape)


def _t(array, device="cpu", dtype=gf.float64, grad=False):
    return gf.tensor(array, dtype=dtype, device=device, requires_grad=grad)


# (input shape, weight shape, keyword arguments)
CONV_CASES = [
    ((2, 3, 6, 6), (4, 3, 3, 3), {"padding": 1}),
    ((2, 1, 8, 7), (16, 1, 3, 3), {"padding": 1}),                       # batch-major layout
    ((1, 4, 9, 8), (6, 2, 3, 2), {"stride": (2, 3), "dilation": (1, 2), "groups": 2}),
    ((2, 4, 7, 7), (4, 1, 3, 3), {"padding": 2, "dilation": 2, "groups": 4}),
    ((1, 3, 6, 7), (5, 3, 2, 4), {"padding": "same"}),
    ((1, 3, 6, 7), (5, 3, 3, 3), {"padding": "same", "dilation": 2}),
    ((2, 2, 7, 6), (3, 2, 3, 3), {"padding": "valid", "stride": 2}),
    ((3, 5, 5), (2, 3, 1, 3), {"padding": (0, 1)}),                       # unbatched
]
CONV_IDS = ["pad1", "first_layer", "stride_dilation_groups", "depthwise", "same_even",
            "same_dilated", "valid_stride2", "unbatched"]


def _torch_conv(torch, x, w, b, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: 'same' with an even kernel
        return torch.nn.functional.conv2d(x, w, b, **kwargs)


# -- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_matches_loop_reference(case, device):
    in_shape, w_shape, kwargs = case
    x, w, b = _normal(*in_shape), _normal(*w_shape), _normal(w_shape[0])
    dev = _use(device)
    out = F.conv2d(_t(x, dev), _t(w, dev), _t(b, dev), **kwargs)
    np.testing.assert_allclose(out.numpy(), np_conv2d(x, w, b, **kwargs), rtol=1e-10, atol=1e-10)
    out32 = F.conv2d(_t(x, dev, gf.float32), _t(w, dev, gf.float32), None, **kwargs)
    assert out32.dtype is gf.float32
    np.testing.assert_allclose(out32.numpy(), np_conv2d(x, w, None, **kwargs), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv2d_values_and_gradients_match_torch(case):
    torch = pytest.importorskip("torch")
    in_shape, w_shape, kwargs = case
    x, w, b, = _normal(*in_shape), _normal(*w_shape), _normal(w_shape[0])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    expected = _torch_conv(torch, tx, tw, tb, kwargs)
    cotangent = _normal(*expected.shape)
    expected.backward(torch.tensor(cotangent))
    gx, gw, gb = _t(x, grad=True), _t(w, grad=True), _t(b, grad=True)
    out = F.conv2d(gx, gw, gb, **kwargs)
    out.backward(_t(cotangent))
    for mine, theirs in [(out, expected), (gx.grad, tx.grad), (gw.grad, tw.grad),
                         (gb.grad, tb.grad)]:
        np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-10)


POOL_CASES = [
    ((2, 3, 6, 6), (2,), {}),
    ((1, 2, 7, 7), (3, 2, 1), {}),
    ((1, 2, 9, 8), (3, 1, 1, 2), {}),
    ((2, 2, 7, 6), ((2, 3), (2, 1), (1, 0)), {"ceil_mode": True}),
    ((3, 5, 5), (2,), {}),
]
POOL_IDS = ["k2", "k3_s2_p1", "dilated_overlap", "ceil_asymmetric", "unbatched"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_max_pool2d_matches_loop_reference(case, device):
    shape, args, kwargs = case
    x = _distinct(*shape)
    out = F.max_pool2d(_t(x, _use(device)), *args, **kwargs)
    np.testing.assert_array_equal(out.numpy(), np_max_pool2d(x, *args, **kwargs))


AVG_CASES = [
    ((2, 3, 6, 6), (2,), {}),
    ((1, 2, 7, 7), (3, 2, 1), {}),
    ((1, 2, 7, 7), (3, 2, 1), {"count_include_pad": False}),
    ((2, 2, 7, 6), ((2, 3), (2, 1), (1, 0)), {"ceil_mode": True}),
    ((1, 2, 6, 5), (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ((1, 2, 5, 5), (2, 1), {"divisor_override": 3}),
    ((3, 5, 5), (2,), {}),
]
AVG_IDS = ["k2", "k3_s2_p1", "exclude_pad", "ceil", "ceil_exclude_pad", "divisor", "unbatched"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", AVG_CASES, ids=AVG_IDS)
def test_avg_pool2d_matches_loop_reference(case, device):
    shape, args, kwargs = case
    x = _normal(*shape)
    out = F.avg_pool2d(_t(x, _use(device)), *args, **kwargs)
    np.testing.assert_allclose(out.numpy(), np_avg_pool2d(x, *args, **kwargs), rtol=1e-12)


ADAPTIVE_CASES = [((2, 3, 5, 5), 1), ((1, 2, 7, 5), (3, 2)), ((1, 2, 4, 6), 2),
                  ((2, 4, 5), (None, 3)), ((1, 1, 3, 3), 5)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=[str(c[1]) for c in ADAPTIVE_CASES])
def test_adaptive_avg_pool2d_matches_loop_reference(case, device):
    shape, size = case
    x = _normal(*shape)
    out = F.adaptive_avg_pool2d(_t(x, _use(device)), size)
    np.testing.assert_allclose(out.numpy(), np_adaptive_avg_pool2d(x, size), rtol=1e-12)


@pytest.mark.parametrize("name, case", [("max_pool2d", c) for c in POOL_CASES]
                         + [("avg_pool2d", c) for c in AVG_CASES]
                         + [("adaptive_avg_pool2d", ((2, 3, 7, 5), ((3, 2),), {}))])
def test_pools_match_torch(name, case):
    torch = pytest.importorskip("torch")
    shape, args, kwargs = case
    x = _distinct(*shape)
    tx = torch.tensor(x, requires_grad=True)
    expected = getattr(torch.nn.functional, name)(tx, *args, **kwargs)
    cotangent = _normal(*expected.shape)
    expected.backward(torch.tensor(cotangent))
    gx = _t(x, grad=True)
    out = getattr(F, name)(gx, *args, **kwargs)
    out.backward(_t(cotangent))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_max_pool2d_return_indices_match_torch():
    torch = pytest.importorskip("torch")
    x = _distinct(2, 3, 7, 8)
    for args in [(2,), (3, 2, 1), (3, 1, 1, 2), ((2, 3), (2, 1), (1, 0), 1, True)]:
        out, indices = F.max_pool2d(_t(x), *args, return_indices=True)
        expected, expected_indices = torch.nn.functional.max_pool2d(
            torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        assert indices.dtype is gf.int64
        np.testing.assert_array_equal(indices.numpy(), expected_indices.numpy())


def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum():
    x = _t([[[[1.0, 2.0], [2.0, 2.0]]]], grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


def test_max_pool2d_propagates_nan():
    out = F.max_pool2d(gf.tensor([[[[1.0, float("nan")], [3.0, 2.0]]]]), 2)
    assert math.isnan(out.item())


# -- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES[:3])
@pytest.mark.parametrize("case", CONV_CASES[:5] + CONV_CASES[7:],
                         ids=CONV_IDS[:5] + CONV_IDS[7:])
def test_conv2d_gradcheck_and_second_derivatives(case, device):
    in_shape, w_shape, kwargs = case
    dev = _use(device)
    x, w, b = (_t(_normal(*s), dev, grad=True) for s in (in_shape, w_shape, (w_shape[0],)))

    def fn(*args):
        return F.conv2d(*args, **kwargs)

    assert gradcheck(fn, [x, w, b], directions=12)
    assert gradgradcheck(fn, [x, w, b], directions=12)


@pytest.mark.parametrize("device", DEVICES[:3])
def test_conv2d_third_order_through_the_backward_ops(device):
    """Differentiate the input and weight gradients with respect to the incoming gradient
    too, which runs conv2d inside the backward ops' own backward rules."""
    dev = _use(device)
    kwargs = {"padding": 1, "stride": 2, "groups": 2}
    x, w = _t(_normal(1, 4, 5, 5), dev, grad=True), _t(_normal(4, 2, 3, 3), dev, grad=True)
    cotangent = _t(_normal(1, 4, 3, 3), dev, grad=True)

    def gradients(x, w, cotangent):
        with gf.enable_grad():
            out = F.conv2d(x, w, **kwargs)
            return gf.grad(out, (x, w), grad_outputs=cotangent, create_graph=True)

    assert gradcheck(gradients, [x, w, cotangent], directions=12)
    assert gradgradcheck(gradients, [x, w, cotangent], directions=8)


@pytest.mark.parametrize("device", DEVICES[:3])
@pytest.mark.parametrize("name, case", [("max_pool2d", POOL_CASES[1]),
                                        ("max_pool2d", POOL_CASES[2]),
                                        ("avg_pool2d", AVG_CASES[4]),
                                        ("adaptive_avg_pool2d", ((1, 2, 7, 5), ((3, 2),), {}))])
def test_pool_gradients_to_second_order(name, case, device):
    shape, args, kwargs = case
    x = _t(_distinct(*shape), _use(device), grad=True)
    cotangent = _t(_normal(*getattr(F, name)(x, *args, **kwargs).shape), x.device, grad=True)

    def gradient(x, cotangent):
        with gf.enable_grad():
            out = getattr(F, name)(x, *args, **kwargs)
            return gf.grad(out, x, grad_outputs=cotangent, create_graph=True)[0]

    assert gradcheck(lambda t: getattr(F, name)(t, *args, **kwargs), [x])
    assert gradcheck(gradient, [x, cotangent])
    assert gradgradcheck(lambda c: gradient(x, c), [cotangent])


# -- devices ----------------------------------------------------------------------------------


def _forward_backward(device, dtype):
    rng = np.random.default_rng(5)
    x = _t(rng.standard_normal((2, 3, 9, 9)), device, dtype, grad=True)
    w1 = _t(rng.standard_normal((6, 3, 3, 3)), device, dtype, grad=True)
    w2 = _t(rng.standard_normal((8, 3, 2, 2)), device, dtype, grad=True)
    h = F.max_pool2d(F.conv2d(x, w1, padding=1).relu(), 2)
    h = F.avg_pool2d(F.conv2d(h, w2, stride=1, groups=2, dilation=2, padding=1), 2, 1, 1)
    out = F.adaptive_avg_pool2d(h, (3, 2))
    (out * _t(rng.standard_normal(out.shape), device, dtype)).sum().backward()
    return [t.numpy() for t in (out, x.grad, w1.grad, w2.grad)]


@pytest.mark.parametrize("device", DEVICES[1:])
@pytest.mark.parametrize("dtype", [gf.float32, gf.float64], ids=["float32", "float64"])
def test_same_results_on_every_device(device, dtype):
    on_device = _forward_backward(_use(device), dtype)
    on_cpu = _forward_backward("cpu", dtype)
    # NOTE: not bit for bit even on array-api-strict (which runs NumPy): the CPU's conv2d
    # multiplies channels-last matrices, summing the same products in another order.
    for a, b in zip(on_device, on_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-4 if dtype is gf.float32 else 1e-10,
                                   atol=1e-5 if dtype is gf.float32 else 1e-10)


def test_devices_do_not_mix():
    from gradflow.errors import DeviceMismatchError

    with pytest.raises(DeviceMismatchError, match="conv2d"):
        F.conv2d(gf.randn(1, 2, 4, 4), gf.randn(3, 2, 3, 3).to("strict"))


# -- memory: what backward keeps ---------------------------------------------------------------


def test_columns_are_kept_only_for_a_weight_gradient_and_released():
    x, w = gf.randn(2, 3, 6, 6), gf.randn(4, 3, 3, 3, requires_grad=True)
    out = F.conv2d(x, w, padding=1)
    node = out.creator
    assert node.columns is not None
    out.sum().backward()
    assert node.columns is None and w.grad.shape == w.shape
    frozen = F.conv2d(gf.randn(2, 3, 6, 6, requires_grad=True), gf.randn(4, 3, 3, 3))
    assert frozen.creator.columns is None
    with gf.no_grad():
        assert F.conv2d(x, w).creator is None


def test_retain_graph_allows_a_second_backward():
    x, w = gf.randn(2, 3, 6, 6, requires_grad=True), gf.randn(4, 3, 3, 3, requires_grad=True)
    out = F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum()
    out.backward(retain_graph=True)
    first = w.grad.numpy().copy()
    out.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-6)


# -- layers -------------------------------------------------------------------------------


def test_conv2d_layer_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    for kwargs in [{"padding": 1}, {"stride": 2, "groups": 2, "bias": False},
                   {"padding": "same", "dilation": 2}, {"padding": 1, "padding_mode": "reflect"},
                   {"padding": (1, 2), "padding_mode": "circular"},
                   {"padding": "same", "padding_mode": "replicate"}]:
        layer = nn.Conv2d(4, 6, (3, 2), **kwargs)
        reference = torch.nn.Conv2d(4, 6, (3, 2), **kwargs).double()
        with torch.no_grad():
            reference.weight.copy_(torch.tensor(layer.weight.numpy()))
            if layer.bias is not None:
                reference.bias.copy_(torch.tensor(layer.bias.numpy()))
        x = _normal(2, 4, 7, 8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            expected = reference(torch.tensor(x))
        out = layer(gf.tensor(x, dtype=gf.float32))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=str(kwargs))


def test_conv2d_layer_initialises_as_pytorch():
    gf.manual_seed(0)
    layer = nn.Conv2d(8, 16, 3)
    bound = 1.0 / math.sqrt(8 * 9)  # kaiming_uniform(a=sqrt(5)) gives 1/sqrt(fan_in)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert weight.shape == (16, 8, 3, 3) and weight.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound
    assert abs(weight.std() - bound / math.sqrt(3.0)) < 0.1 * bound  # uniform(-bound, bound)
    assert np.abs(bias).max() <= bound
    assert len(list(layer.parameters())) == 2
    assert len(list(nn.Conv2d(8, 16, 3, bias=False).parameters())) == 1


def test_layers_follow_their_device_and_dtype():
    layer = nn.Conv2d(2, 3, 3, padding=1, device="strict:device1", dtype=gf.float64)
    out = nn.MaxPool2d(2)(layer(gf.randn(1, 2, 6, 6, dtype=gf.float64).to("strict:device1")))
    assert out.device == "strict:device1" and out.dtype is gf.float64 and out.shape == (1, 3, 3, 3)
    out.sum().backward()
    assert layer.weight.grad.device == "strict:device1"


def test_pool_layers_match_functional():
    x = gf.randn(2, 3, 7, 7)
    pairs = [(nn.MaxPool2d(3, 2, 1), F.max_pool2d(x, 3, 2, 1)),
             (nn.MaxPool2d(2, ceil_mode=True), F.max_pool2d(x, 2, ceil_mode=True)),
             (nn.AvgPool2d(3, 2, 1, count_include_pad=False),
              F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
             (nn.AdaptiveAvgPool2d((2, 3)), F.adaptive_avg_pool2d(x, (2, 3)))]
    for layer, expected in pairs:
        np.testing.assert_array_equal(layer(x).numpy(), expected.numpy())
    out, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert indices.shape == out.shape == (2, 3, 3, 3)
    assert "kernel_size=2" in repr(nn.MaxPool2d(2))
    assert "padding='same'" in repr(nn.Conv2d(1, 2, 3, padding="same"))


def test_reference_cnn_trains_like_torch():
    torch = pytest.importorskip("torch")
    from gradflow.models import cnn

    model = cnn(image_size=12)
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 9, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
    mine = [p for p in model.parameters()]
    theirs = list(reference.parameters())
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            b.copy_(torch.tensor(a.numpy()))
    x = _normal(4, 1, 12, 12).astype(np.float32)
    labels = np.array([1, 3, 5, 7])
    loss = F.cross_entropy(model(gf.tensor(x)), gf.tensor(labels))
    loss.backward()
    expected = torch.nn.functional.cross_entropy(reference(torch.tensor(x)), torch.tensor(labels))
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-5)
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=1e-5)


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, w_shape, kwargs, pattern", [
    ((3, 8), (4, 3, 3, 3), {}, r"conv2d: expected a 4-D input .*\(3, 8\)"),
    ((1, 2, 3, 8, 8), (4, 3, 3, 3), {}, r"\(1, 2, 3, 8, 8\)"),
    ((2, 3, 8, 8), (4, 3, 3), {}, r"conv2d: expected a 4-D weight .*\(4, 3, 3\)"),
    ((2, 5, 8, 8), (4, 3, 3, 3), {},
     r"conv2d: input of shape \(2, 5, 8, 8\) and weight of shape \(4, 3, 3, 3\)"
     r".* 3 channels, not 5"),
    ((2, 4, 8, 8), (4, 2, 3, 3), {"groups": 3}, r"not divisible by groups=3"),
    ((2, 3, 2, 2), (4, 3, 3, 3), {}, r"kernel spans 3x3.*larger than the padded input 2x2"),
    ((2, 3, 4, 4), (4, 3, 3, 3), {"dilation": 2}, r"kernel spans 5x5"),
])
def test_conv2d_shape_errors_name_the_op_and_shapes(x_shape, w_shape, kwargs, pattern):
    with pytest.raises(ShapeError, match=pattern):
        F.conv2d(gf.randn(*x_shape), gf.randn(*w_shape), **kwargs)


def test_conv2d_argument_errors():
    x, w = gf.randn(1, 2, 5, 5), gf.randn(3, 2, 3, 3)
    with pytest.raises(ShapeError, match=r"bias should have shape \(3,\)"):
        F.conv2d(x, w, gf.randn(4))
    with pytest.raises(ConfigError, match="padding='same' needs stride 1"):
        F.conv2d(x, w, padding="same", stride=2)
    with pytest.raises(ConfigError, match="padding must be"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ConfigError, match="stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(DTypeError, match="conv2d: .*float32, float64"):
        F.conv2d(x, w.double())
    expected = r"Conv2d expects input \(N, 2, H, W\), got \(1, 3, 5, 5\)"
    with pytest.raises(ShapeError, match=expected):
        nn.Conv2d(2, 3, 3)(gf.randn(1, 3, 5, 5))
    with pytest.raises(ConfigError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_pool_errors():
    with pytest.raises(ShapeError, match=r"max_pool2d: expected a 4-D input .*\(4, 4\)"):
        F.max_pool2d(gf.randn(4, 4), 2)
    with pytest.raises(ShapeError, match=r"avg_pool2d: input of shape \(1, 1, 2, 2\) is too small"):
        F.avg_pool2d(gf.randn(1, 1, 2, 2), 3)
    with pytest.raises(ConfigError, match="at most half"):
        F.max_pool2d(gf.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ConfigError, match="output sizes must be positive"):
        F.adaptive_avg_pool2d(gf.randn(1, 1, 6, 6), 0)
    with pytest.raises(ShapeError, match="MaxPool2d expects input"):
        nn.MaxPool2d(2)(gf.randn(6, 6))


def test_host_copies_are_c_contiguous_whatever_the_memory_order():
    # conv2d's outputs on the CPU are channels-last in memory; .numpy() hides that
    x = gf.randn(2, 3, 6, 6)
    out = F.max_pool2d(F.conv2d(x, gf.randn(4, 3, 3, 3), padding=1).relu(), 2)
    host = out.numpy()
    assert host.flags.c_contiguous and host.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(host, out.data)


def test_max_pool_without_gradient_skips_the_index_and_gives_the_same_maxima():
    x = gf.randn(2, 3, 8, 8, requires_grad=True)
    with gf.no_grad():
        fast = F.max_pool2d(x, 2)
    recorded = F.max_pool2d(x, 2)
    assert fast.creator is None and recorded.creator.index is not None
    np.testing.assert_array_equal(fast.numpy(), recorded.numpy())
    _, indices = F.max_pool2d(x.detach(), 2, return_indices=True)  # indices still come
    assert indices.shape == (2, 3, 4, 4)
