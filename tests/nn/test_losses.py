"""Loss modules against PyTorch, stability for huge logits, and label and shape errors."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import ConfigError, ShapeError
from gradflow.nn import functional as F
from gradflow.testing import assert_close

RNG = np.random.default_rng(5)


def _x(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def compare_loss(ours, theirs, input, target, device, grad_target=False, rtol=1e-5, atol=1e-5):
    """Loss values and input gradients of a gradflow and a PyTorch loss module agree."""
    torch = pytest.importorskip("torch")
    x = gf.tensor(input, device=device, requires_grad=True)
    t = gf.tensor(target, device=device, requires_grad=grad_target)
    tx = torch.tensor(input, requires_grad=True)
    tt = torch.tensor(target, requires_grad=grad_target)
    loss, expected = ours(x, t), theirs(tx, tt)
    assert np.isfinite(loss.numpy()).all()
    assert_close(loss, expected.detach().numpy(), rtol=rtol, atol=atol, msg="loss")
    cotangent = RNG.standard_normal(loss.shape).astype(np.float32)
    (loss * gf.tensor(cotangent, device=device)).sum().backward()
    (expected * torch.tensor(cotangent)).sum().backward()
    assert_close(x.grad, tx.grad.numpy(), rtol=rtol, atol=atol, msg="input gradient")
    if grad_target:
        assert_close(t.grad, tt.grad.numpy(), rtol=rtol, atol=atol, msg="target gradient")


def test_cross_entropy_with_logits_of_1e4_is_finite_and_matches_torch(device):
    torch = pytest.importorskip("torch")
    logits = _x(8, 5, scale=1e4)
    labels = RNG.integers(0, 5, 8)
    for reduction in ("mean", "sum", "none"):
        compare_loss(nn.CrossEntropyLoss(reduction=reduction),
                     torch.nn.CrossEntropyLoss(reduction=reduction), logits, labels, device,
                     rtol=1e-4, atol=1e-2)
    extreme = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], np.float32)
    loss = F.cross_entropy(gf.tensor(extreme, device=device), gf.tensor([1, 2], device=device))
    assert loss.item() == pytest.approx(1e4, rel=1e-6)


@pytest.mark.parametrize("options", [
    {}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": 0},
    {"label_smoothing": 0.15}, {"label_smoothing": 0.1, "weight": True, "ignore_index": 2},
    {"reduction": "none", "weight": True}, {"reduction": "sum", "label_smoothing": 0.3},
])
def test_cross_entropy_options_match_torch(device, options):
    torch = pytest.importorskip("torch")
    options = dict(options)
    ours_options, theirs_options = dict(options), dict(options)
    if options.pop("weight", False):
        weight = RNG.uniform(0.5, 2.0, 4).astype(np.float32)
        ours_options["weight"] = gf.tensor(weight, device=device)
        theirs_options["weight"] = torch.tensor(weight)
    labels = np.array([0, 1, 2, 3, 1, 1, 2])
    compare_loss(nn.CrossEntropyLoss(**ours_options), torch.nn.CrossEntropyLoss(**theirs_options),
                 _x(7, 4), labels, device)


def test_cross_entropy_spatial_and_probability_targets(device):
    torch = pytest.importorskip("torch")
    compare_loss(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), _x(2, 3, 4, 2),
                 RNG.integers(0, 3, (2, 4, 2)), device)
    probs = np.exp(_x(5, 3))
    probs /= probs.sum(1, keepdims=True)
    compare_loss(nn.CrossEntropyLoss(label_smoothing=0.2),
                 torch.nn.CrossEntropyLoss(label_smoothing=0.2), _x(5, 3), probs, device,
                 grad_target=True)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_every_label_ignored_gives_nan_like_torch():
    loss = F.cross_entropy(gf.zeros(2, 3), gf.tensor([-100, -100]))
    assert np.isnan(loss.item())


@pytest.mark.parametrize("bad, message", [
    ([0, 4, 1], "label 4 is out of range for 4 classes"),
    ([0, -1, 1], "label -1 is out of range for 4 classes"),
    ([7, -3, 1], "label 7 is out of range for 4 classes"),
])
def test_labels_out_of_range_raise_a_clear_error(device, bad, message):
    logits = gf.zeros(3, 4, device=device)
    with pytest.raises(ConfigError, match=message) as info:
        F.cross_entropy(logits, gf.tensor(bad, device=device))
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigError, match=message):
        nn.NLLLoss()(logits, gf.tensor(bad, device=device))


def test_ignore_index_may_be_any_value_outside_the_classes():
    loss = F.cross_entropy(gf.zeros(3, 4), gf.tensor([0, -1, 1]), ignore_index=-1)
    assert loss.item() == pytest.approx(np.log(4.0))


def test_loss_shape_and_option_errors():
    with pytest.raises(ShapeError, match=r"target of shape \(3,\) does not fit"):
        F.cross_entropy(gf.zeros(4, 5), gf.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match="reshape one of them"):
        F.mse_loss(gf.zeros(4, 1), gf.zeros(4))
    with pytest.raises(ConfigError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ConfigError, match="label_smoothing"):
        F.cross_entropy(gf.zeros(2, 3), gf.tensor([0, 1]), label_smoothing=1.5)


def test_nll_loss_matches_torch(device):
    torch = pytest.importorskip("torch")
    log_probs = np.log(np.random.default_rng(1).dirichlet(np.ones(4), 6)).astype(np.float32)
    compare_loss(nn.NLLLoss(ignore_index=2), torch.nn.NLLLoss(ignore_index=2), log_probs,
                 np.array([0, 2, 3, 1, 2, 0]), device)


@pytest.mark.parametrize("name, options", [
    ("MSELoss", {}), ("MSELoss", {"reduction": "sum"}), ("L1Loss", {}),
    ("L1Loss", {"reduction": "none"}), ("SmoothL1Loss", {}), ("SmoothL1Loss", {"beta": 0.4}),
    ("SmoothL1Loss", {"beta": 0.0, "reduction": "sum"}),
])
def test_regression_losses_match_torch(device, name, options):
    torch = pytest.importorskip("torch")
    compare_loss(getattr(nn, name)(**options), getattr(torch.nn, name)(**options), _x(4, 3),
                 _x(4, 3), device, grad_target=True)


def test_binary_cross_entropy_matches_torch(device):
    torch = pytest.importorskip("torch")
    probs = RNG.uniform(0.02, 0.98, (5, 2)).astype(np.float32)
    targets = (RNG.random((5, 2)) < 0.5).astype(np.float32)
    compare_loss(nn.BCELoss(), torch.nn.BCELoss(), probs, targets, device)
    weight = RNG.uniform(0.5, 2.0, 2).astype(np.float32)
    compare_loss(nn.BCELoss(weight=gf.tensor(weight, device=device), reduction="none"),
                 torch.nn.BCELoss(weight=torch.tensor(weight), reduction="none"), probs,
                 targets, device)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    loss = F.binary_cross_entropy(gf.tensor([0.0, 1.0], requires_grad=True),
                                  gf.tensor([1.0, 0.0]), reduction="none")
    assert loss.tolist() == [100.0, 100.0]
    loss.sum().backward()


def test_binary_cross_entropy_with_logits_matches_torch(device):
    torch = pytest.importorskip("torch")
    logits = np.concatenate([_x(3, 4, scale=40.0), np.zeros((1, 4), np.float32)])
    targets = RNG.uniform(0, 1, (4, 4)).astype(np.float32)
    compare_loss(nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), logits, targets, device,
                 grad_target=True)
    pos_weight = RNG.uniform(0.5, 3.0, 4).astype(np.float32)
    compare_loss(nn.BCEWithLogitsLoss(pos_weight=gf.tensor(pos_weight, device=device),
                                      reduction="sum"),
                 torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight), reduction="sum"),
                 logits, targets, device, grad_target=True, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("options", [
    {}, {"label_smoothing": 0.2, "ignore_index": 1}, {"reduction": "none"},
    {"reduction": "sum", "label_smoothing": 0.1},
])
def test_fused_cross_entropy_equals_the_composed_form_to_second_order(options):
    # a weight that requires grad takes the composed path (log_softmax, pick, sums);
    # one that does not takes the fused op: same loss, gradient and gradient of gradient
    logits = RNG.standard_normal((6, 4))
    labels = gf.tensor([0, 1, 3, 2, 1, 0])
    weight = RNG.uniform(0.5, 2.0, 4)
    results = []
    for weight_grad in (False, True):
        x = gf.tensor(logits, dtype=gf.float64, requires_grad=True)
        w = gf.tensor(weight, dtype=gf.float64, requires_grad=weight_grad)
        loss = F.cross_entropy(x, labels, weight=w, **options).sum()
        (grad,) = gf.grad(loss, [x], create_graph=True)
        (grad * grad).sum().backward()
        results.append([loss.numpy(), grad.numpy(), x.grad.numpy()])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-14)


def test_fused_cross_entropy_notices_logits_changed_in_place():
    from gradflow.errors import GraphError

    # the gradient under create_graph=True reads the logits again: an in-place change
    # after the loss would give a wrong gradient, so backward raises instead
    x = gf.tensor(_x(3, 4), requires_grad=True)
    logits = x * 1.0
    loss = F.cross_entropy(logits, gf.tensor([0, 1, 2]))
    logits.add_(1.0)
    with pytest.raises(GraphError, match="modified in place"):
        loss.backward()
