"""Issue 12 items 8 and 9: silent numerical errors (masked logits in cross_entropy, erf)."""

import math

import numpy as np
import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow import nn

INF = float("inf")


def _ulps(got: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """|got - erf(x)| in units in the last place of got's dtype, erf from math (or scipy)."""
    try:
        from scipy.special import erf as reference
        expected = reference(inputs.astype(np.float64))
    except ImportError:
        expected = np.array([math.erf(float(v)) for v in inputs])
    spacing = np.spacing(np.abs(expected).astype(got.dtype)).astype(np.float64)
    return np.abs(got.astype(np.float64) - expected) / spacing


ERF_GRID = np.concatenate([
    np.linspace(-7.0, 7.0, 56_001),                  # every interval, dense
    np.geomspace(1e-300, 1e-2, 300),                 # tiny: erf(x) ~ 2x/sqrt(pi)
    -np.geomspace(1e-30, 6.0, 2_000),
    np.geomspace(3.0, 6.5, 2_000),                   # the tail, where erf is 1 - tiny
    [0.0, 0.25, 0.5, 5.999999, 6.0, 26.0, 1e30],
])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_item9_erf_is_accurate_to_a_few_ulp(device, dtype):
    chosen = gf.dtypes.by_name(dtype)
    if chosen not in gf.backends.get_backend(device).to_xp:
        pytest.skip(f"{device} has no {dtype}")
    x = gf.tensor(ERF_GRID, dtype=chosen, device=device)
    got = gf.erf(x).numpy()
    worst = _ulps(got, x.numpy())
    assert worst.max() <= 3.0, (worst.max(), x.numpy()[int(np.argmax(worst))])


def test_item9_erf_of_special_values(device):
    got = gf.erf(gf.tensor([INF, -INF, float("nan"), 0.0, -0.0], device=device)).numpy()
    np.testing.assert_array_equal(got[:2], [1.0, -1.0])
    assert np.isnan(got[2]) and got[3] == 0.0 and got[4] == 0.0


@pytest.mark.usefixtures("float64_device")
def test_item9_float64_gelu_matches_the_exact_formula(device):
    x = np.linspace(-6.0, 6.0, 2001)
    got = F.gelu(gf.tensor(x, dtype=gf.float64, device=device)).numpy()
    exact = np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x])
    np.testing.assert_allclose(got, exact, rtol=1e-15, atol=1e-15)  # was 1e-8 off


def test_item8_cross_entropy_with_a_masked_logit_is_finite_like_pytorch(device):
    logits = gf.tensor([[1.0, -INF, 2.0], [-INF, 0.5, 0.0]], device=device, requires_grad=True)
    target = gf.tensor([0, 2], device=device)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    assert math.isfinite(loss.item())
    expected = -(math.log(math.exp(1) / (math.exp(1) + math.exp(2)))
                 + math.log(1 / (math.exp(0.5) + 1))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    grad = logits.grad.numpy()
    assert np.isfinite(grad).all() and grad[0, 1] == 0.0 and grad[1, 0] == 0.0
    torch = pytest.importorskip("torch")
    reference = torch.tensor([[1.0, -INF, 2.0], [-INF, 0.5, 0.0]], requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(reference, torch.tensor([0, 2]))
    torch_loss.backward()
    assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-6)
    np.testing.assert_allclose(grad, reference.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("options", [
    {}, {"reduction": "none"}, {"reduction": "sum"}, {"ignore_index": 1},
    {"weight": [1.0, 2.0, 3.0]}, {"weight_requires_grad": True}, {"module": True},
], ids=["mean", "none", "sum", "ignore-index", "weight", "weight-grad", "module"])
def test_item8_masked_logits_give_pytorchs_finite_loss_in_every_mode(options):
    torch = pytest.importorskip("torch")
    rows = [[1.0, -INF, 2.0], [-INF, 0.5, 0.0], [0.3, -INF, -INF]]
    labels = [0, 1, 0]
    options = dict(options)
    module = options.pop("module", False)
    weight_grad = options.pop("weight_requires_grad", False)
    if weight_grad:
        options["weight"] = [1.0, 0.5, 2.0]
    ours_options = {k: gf.tensor(v, requires_grad=weight_grad) if k == "weight" else v
                    for k, v in options.items()}
    theirs_options = {k: torch.tensor(v) if k == "weight" else v for k, v in options.items()}
    ours_fn = nn.CrossEntropyLoss(**ours_options) if module else (
        lambda a, b: F.cross_entropy(a, b, **ours_options))
    ours = ours_fn(gf.tensor(rows), gf.tensor(labels)).numpy()
    theirs = torch.nn.functional.cross_entropy(torch.tensor(rows), torch.tensor(labels),
                                               **theirs_options).numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
