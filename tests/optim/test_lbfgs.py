"""LBFGS (with and without the strong-Wolfe line search) against torch.optim.LBFGS."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import optim
from gradflow.errors import ConfigError

DEVICES = ["cpu", "strict:device1"]

CASES = [
    {"lr": 0.5, "max_iter": 3},
    {"lr": 1.0, "max_iter": 4, "history_size": 2},
    {"lr": 1.0, "max_iter": 4, "line_search_fn": "strong_wolfe"},
    {"lr": 0.8, "max_iter": 2, "max_eval": 6, "history_size": 3,
     "line_search_fn": "strong_wolfe", "tolerance_change": 1e-12},
]


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal(4), \
        rng.standard_normal(3)


def _loss(lib, a, b, x, y):
    """A least-squares term, a quartic (so curvature changes) and a shifted bowl."""
    r = a @ x - b
    return (r * r).sum() + 0.1 * (x ** 4).sum() + 0.5 * ((y - 1.0) ** 2).sum()


def _run(lib, make, options, device=None, steps=20):
    a0, b0, x0, y0 = _problem()
    kw = {} if device is None else {"device": device}
    a, b = make(a0, **kw), make(b0, **kw)
    x = make(x0, requires_grad=True, **kw)
    y = make(y0, requires_grad=True, **kw)
    opt = lib.optim.LBFGS([x, y], **options)
    trajectory, losses = [], []

    def closure():
        opt.zero_grad()
        loss = _loss(lib, a, b, x, y)
        loss.backward()
        return loss

    for _ in range(steps):
        losses.append(float(opt.step(closure).item()))
        trajectory.append(np.concatenate([x.detach().numpy().copy(), y.detach().numpy().copy()]))
    return np.array(trajectory), np.array(losses), opt, (x, y)


@pytest.mark.torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("options", CASES)
def test_matches_pytorch_for_20_steps(options, device):
    torch = pytest.importorskip("torch")
    ours, our_losses, opt, params = _run(gf, lambda v, **k: gf.tensor(v, dtype=gf.float64, **k),
                                         options, device)
    theirs, their_losses, topt, tparams = _run(
        torch, lambda v, **k: torch.tensor(v, dtype=torch.float64, **k), options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-9, atol=1e-12)
    mine, reference = opt.state[params[0]], topt.state[tparams[0]]
    assert mine["func_evals"] == reference["func_evals"]
    assert mine["n_iter"] == reference["n_iter"]


def test_state_dict_round_trip_continues_exactly(tmp_path):
    make = lambda v, **k: gf.tensor(v, dtype=gf.float64, **k)  # noqa: E731
    options = {"lr": 1.0, "max_iter": 3, "line_search_fn": "strong_wolfe"}
    whole, _, _, _ = _run(gf, make, options, steps=6)
    half, _, opt, (x, y) = _run(gf, make, options, steps=3)
    gf.save({"optimizer": opt.state_dict(), "x": x, "y": y}, tmp_path / "lbfgs.safetensors")
    saved = gf.load(tmp_path / "lbfgs.safetensors")
    a0, b0, _, _ = _problem()
    a, b = make(a0), make(b0)
    x2 = saved["x"].detach().requires_grad_(True)
    y2 = saved["y"].detach().requires_grad_(True)
    fresh = optim.LBFGS([x2, y2], **options)
    fresh.load_state_dict(saved["optimizer"])

    def closure():
        fresh.zero_grad()
        loss = _loss(gf, a, b, x2, y2)
        loss.backward()
        return loss

    for step in range(3):
        fresh.step(closure)
        np.testing.assert_allclose(np.concatenate([x2.numpy(), y2.numpy()]), whole[3 + step],
                                   rtol=1e-12)


def test_bad_options():
    p = gf.zeros(2, requires_grad=True)
    with pytest.raises(ConfigError, match="line_search_fn"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(ConfigError, match="history_size"):
        optim.LBFGS([p], history_size=0)
    with pytest.raises(ConfigError, match="one parameter group"):
        optim.LBFGS([{"params": [p]}, {"params": [gf.zeros(1, requires_grad=True)]}])
    with pytest.raises(ConfigError, match="closure"):
        optim.LBFGS([p]).step(None)
