"""Layers against PyTorch with the same weights, BatchNorm running statistics, Dropout masks,
and shape errors that name the layer."""

from collections import OrderedDict

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import DTypeError, ShapeError
from gradflow.testing import assert_close

RNG = np.random.default_rng(0)


def _torch_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def compare_with_torch(ours, theirs, x, device, rtol=1e-5, atol=1e-5):
    """Same weights, same input: outputs, input gradient and parameter gradients agree."""
    torch = pytest.importorskip("torch")
    ours.load_state_dict(_torch_state(theirs))
    ours.to(device)
    x_ours = gf.tensor(x, device=device, requires_grad=x.dtype.kind == "f")
    x_theirs = torch.tensor(x, requires_grad=x.dtype.kind == "f")
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    assert_close(out_ours, out_theirs.detach().numpy(), rtol=rtol, atol=atol, msg="output")
    cotangent = RNG.standard_normal(out_ours.shape).astype(np.float32)
    (out_ours * gf.tensor(cotangent, device=device)).sum().backward()
    (out_theirs * torch.tensor(cotangent)).sum().backward()
    if x.dtype.kind == "f":
        assert_close(x_ours.grad, x_theirs.grad.numpy(), rtol=rtol, atol=atol, msg="input grad")
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, theirs_params[name].grad.numpy(), rtol=rtol, atol=atol, msg=name)
    return out_ours


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_linear_matches_torch(device):
    torch = pytest.importorskip("torch")
    compare_with_torch(nn.Linear(5, 3), torch.nn.Linear(5, 3), _x(4, 5), device)
    compare_with_torch(nn.Linear(5, 3, bias=False), torch.nn.Linear(5, 3, bias=False),
                       _x(2, 4, 5), device)


def test_linear_default_init_has_pytorch_bounds():
    gf.manual_seed(0)
    layer = nn.Linear(400, 30)
    bound = 1.0 / np.sqrt(400)
    weight, bias = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.95 * bound
    assert np.abs(bias).max() <= bound
    assert abs(weight.std() - bound / np.sqrt(3)) < 0.05 * bound


@pytest.mark.parametrize("make", ["norm1d", "norm1d_seq", "norm2d", "norm2d_no_affine"])
def test_batch_norm_matches_torch_in_train_and_eval(device, make):
    torch = pytest.importorskip("torch")
    shapes = {"norm1d": (6, 3), "norm1d_seq": (4, 3, 5), "norm2d": (3, 3, 4, 4),
              "norm2d_no_affine": (3, 3, 2, 2)}
    two_d = make.startswith("norm2d")
    affine = make != "norm2d_no_affine"
    ours = (nn.BatchNorm2d if two_d else nn.BatchNorm1d)(3, affine=affine)
    theirs = (torch.nn.BatchNorm2d if two_d else torch.nn.BatchNorm1d)(3, affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    compare_with_torch(ours, theirs, _x(*shapes[make]) * 2 + 1, device, rtol=1e-4)
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    x = _x(*shapes[make])
    assert_close(ours(gf.tensor(x, device=device)), theirs(torch.tensor(x)).detach().numpy(),
                 rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_running_stats_follow_torch_over_steps(device, momentum):
    torch = pytest.importorskip("torch")
    ours = nn.BatchNorm2d(4, momentum=momentum).to(device)
    theirs = torch.nn.BatchNorm2d(4, momentum=momentum)
    for step in range(5):
        x = _x(3, 4, 2, 3) * (step + 1) + step
        ours(gf.tensor(x, device=device))
        theirs(torch.tensor(x))
    for name in ("running_mean", "running_var"):
        assert_close(getattr(ours, name), getattr(theirs, name).numpy(), rtol=1e-5, atol=1e-5,
                     msg=name)
    assert ours.num_batches_tracked.item() == 5
    ours.eval()
    ours(gf.tensor(_x(3, 4, 2, 3), device=device))
    assert ours.num_batches_tracked.item() == 5  # eval leaves the statistics alone


def test_batch_norm_without_running_stats_uses_batch_statistics_in_eval():
    layer = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert layer.running_mean is None and "running_mean" not in layer.state_dict()
    out = layer(gf.tensor(_x(5, 2) * 3 + 2))
    assert_close(out.mean(0), np.zeros(2, np.float32), atol=1e-5)


def test_batch_norm_training_needs_more_than_one_value():
    with pytest.raises(ShapeError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(gf.zeros(1, 3))


def test_layer_norm_matches_torch(device):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    compare_with_torch(ours, theirs, _x(2, 3, 4), device, rtol=1e-4)
    compare_with_torch(nn.LayerNorm(5, elementwise_affine=False),
                       torch.nn.LayerNorm(5, elementwise_affine=False), _x(3, 5), device,
                       rtol=1e-4)


def test_embedding_with_padding_matches_torch(device):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Embedding(6, 3, padding_idx=2)
    ours = nn.Embedding(6, 3, padding_idx=2)
    assert not ours.weight.numpy()[2].any()
    with torch.no_grad():
        theirs.weight[2] = 1.5  # a non-zero padding row: forward returns it, gradient skips it
    indices = np.array([[0, 2, 5], [2, 2, 1]])
    compare_with_torch(ours, theirs, indices, device)
    assert not ours.weight.grad.numpy()[2].any()


def test_embedding_rejects_float_indices():
    with pytest.raises(DTypeError, match="Embedding 'lookup' expects integer"):
        nn.Sequential(OrderedDict(lookup=nn.Embedding(3, 2)))(gf.zeros(2))


@pytest.mark.parametrize("name, args", [
    ("ReLU", ()), ("LeakyReLU", (0.2,)), ("GELU", ()), ("GELU", ("tanh",)), ("Sigmoid", ()),
    ("Tanh", ()), ("Softmax", (1,)), ("LogSoftmax", (1,)), ("Flatten", ()), ("Identity", ()),
])
def test_activation_and_shape_modules_match_torch(device, name, args):
    torch = pytest.importorskip("torch")
    compare_with_torch(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), _x(3, 4, 2),
                       device, rtol=2e-5, atol=2e-6)


def test_flatten_dims():
    assert nn.Flatten(0, 1)(gf.zeros(2, 3, 4)).shape == (6, 4)
    with pytest.raises(ShapeError, match="Flatten expects input at least 3 dimensions"):
        nn.Flatten(1, 2)(gf.zeros(2, 3))


def test_dropout_scales_kept_values_and_is_identity_in_eval():
    gf.manual_seed(0)
    layer = nn.Dropout(0.25)
    out = layer(gf.ones(200, 50)).numpy()
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01
    x = gf.randn(4, 5)
    assert layer.eval()(x) is x
    assert not nn.Dropout(1.0)(gf.ones(3)).numpy().any()


def test_dropout_same_seed_same_mask_on_every_device():
    masks = []
    for device in ("cpu", "strict:device1"):
        gf.manual_seed(42)
        masks.append(nn.Dropout(0.5)(gf.ones(8, 9, device=device)).numpy())
    np.testing.assert_array_equal(masks[0], masks[1])


def test_dropout_gradient_uses_the_same_mask():
    gf.manual_seed(3)
    x = gf.ones(6, 6, requires_grad=True)
    out = nn.Dropout(0.5)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.detach().numpy())


@pytest.mark.parametrize("layer, shape, expected", [
    (nn.BatchNorm1d(3), (4, 5), "BatchNorm1d expects input (N, 3) or (N, 3, L), got (4, 5)"),
    (nn.BatchNorm2d(3), (4, 3, 5), "BatchNorm2d expects input (N, 3, H, W), got (4, 3, 5)"),
    (nn.LayerNorm((2, 3)), (4, 3, 2), "LayerNorm expects input (..., 2, 3), got (4, 3, 2)"),
])
def test_layer_shape_errors(layer, shape, expected):
    with pytest.raises(ShapeError) as info:
        layer(gf.zeros(*shape))
    assert str(info.value) == expected


def test_layers_build_on_a_device_and_dtype():
    layer = nn.Linear(3, 2, device="strict:device1", dtype=gf.float64)
    assert layer.weight.device == "strict:device1" and layer.weight.dtype is gf.float64
    norm = nn.BatchNorm1d(2, device="strict")
    assert norm.running_var.device == "strict" and norm.num_batches_tracked.dtype is gf.int64
