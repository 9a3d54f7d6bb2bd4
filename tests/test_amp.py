"""Mixed precision: the autocast op policy, GradScaler against PyTorch, bfloat16 on the CPU,
and a CNN trained under autocast."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradflow as gf
import gradflow.nn.functional as F
from gradflow.amp import POLICY, GradScaler, autocast
from gradflow.errors import ConfigError, DTypeError

LOW = [gf.float16, gf.bfloat16]


def _kind(device: str) -> str:
    return device.partition(":")[0]


def _has(device: str, dtype) -> bool:
    return dtype in gf.backends.get_backend(device).to_xp


def _need(device: str, dtype) -> None:
    if not _has(device, dtype):
        with pytest.raises(DTypeError, match=dtype.name):
            autocast(_kind(device), dtype=dtype)
        pytest.skip(f"{device} has no {dtype.name}: autocast raises DTypeError (checked)")


# -- the op policy --------------------------------------------------------------------------

def _cases(device):
    """op name -> a call on float32 inputs of `device` (every op in POLICY has one)."""
    r = np.random.default_rng(0)

    def t(*shape, low=None):
        values = r.standard_normal(shape) if low is None else r.uniform(low, 2.0, shape)
        return gf.tensor(values.astype(np.float32), device=device)

    x, w, labels = t(4, 8), t(3, 8), gf.tensor([0, 1, 2, 0], device=device)
    return {
        "matmul": lambda: gf.matmul(x, w.T),
        "linear": lambda: F.linear(x, w, t(3)),
        "bmm": lambda: gf.bmm(t(2, 3, 4), t(2, 4, 5)),
        "conv2d": lambda: F.conv2d(t(1, 2, 5, 5), t(3, 2, 3, 3), t(3), padding=1),
        "softmax": lambda: gf.softmax(x, 1),
        "log_softmax": lambda: gf.log_softmax(x, 1),
        "cross_entropy": lambda: F.cross_entropy(x[:, :3], labels),
        "nll_loss": lambda: F.nll_loss(gf.log_softmax(x[:, :3], 1), labels),
        "batch_norm": lambda: F.batch_norm(x, None, None, training=True),
        "layer_norm": lambda: F.layer_norm(x, (8,), t(8), t(8)),
        "norm": lambda: gf.norm(x),
        "sum": lambda: gf.sum(x, 1),
        "mean": lambda: gf.mean(x),
        "exp": lambda: gf.exp(x),
        "log": lambda: gf.log(t(3, low=0.5)),
        "pow": lambda: gf.pow(x, 2),
    }


def test_every_policy_op_has_a_case():
    assert set(_cases("cpu")) == set(POLICY)


@pytest.mark.parametrize("low", LOW, ids=lambda d: d.name)
def test_op_policy_table(device, low):
    """Each op's output dtype under autocast: the low dtype for matmul/linear/conv2d/bmm,
    float32 for the rest of the table, from float32 inputs and from low-dtype inputs."""
    _need(device, low)
    cases = _cases(device)
    with autocast(_kind(device), dtype=low):
        got = {op: call().dtype for op, call in cases.items()}
    expected = {op: (low if kind == "lower" else gf.float32) for op, kind in POLICY.items()}
    assert got == expected
    # float32 ops lift low-precision inputs to float32
    h = gf.randn(4, 8, device=device).to(low)
    with autocast(_kind(device), dtype=low):
        assert gf.softmax(h, 1).dtype is gf.float32 and gf.sum(h).dtype is gf.float32
        # outside the table: the input's dtype, and the widest of mixed inputs
        assert gf.relu(h).dtype is low and (h + gf.ones(8, device=device)).dtype is gf.float32
        assert (gf.randn(2, 3, device=device, dtype=gf.float64) @ gf.randn(3, 2, device=device)
                ).dtype is gf.float64  # float64 is never cast


def test_policy_agrees_with_torch_cpu_autocast():
    """Where PyTorch's CPU autocast casts (the low-precision ops, the losses) gradflow does
    the same; for softmax, the norms, sum, mean, exp, log and pow gradflow applies
    PyTorch's CUDA list (float32) on every device, where PyTorch's CPU list keeps the
    input's dtype."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, w, y = torch.randn(4, 8), torch.randn(3, 8), torch.tensor([0, 1, 2, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch_dtypes = {
            "matmul": (x @ w.T).dtype, "linear": tf.linear(x, w).dtype,
            "bmm": torch.bmm(x[None], w.T[None]).dtype,
            "conv2d": tf.conv2d(torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)).dtype,
            "cross_entropy": tf.cross_entropy(x[:, :3], y).dtype,
            "nll_loss": tf.nll_loss(x[:, :3], y).dtype,
        }
    with autocast("cpu", dtype=gf.bfloat16):
        ours = {op: _cases("cpu")[op]().dtype.name for op in torch_dtypes}
    assert ours == {op: str(d).removeprefix("torch.") for op, d in torch_dtypes.items()}


@pytest.mark.parametrize("low", LOW, ids=lambda d: d.name)
def test_gradients_flow_back_in_each_ops_dtype(device, low):
    _need(device, low)
    gf.manual_seed(0)
    x = gf.randn(4, 8, device=device)
    w = gf.randn(3, 8, device=device, requires_grad=True)
    seen = {}
    with autocast(_kind(device), dtype=low):
        y = F.linear(x, w)
        y.register_hook(lambda g: seen.update(linear_out=g.dtype))
        loss = F.cross_entropy(y, gf.tensor([0, 1, 2, 0], device=device))
    assert y.dtype is low and loss.dtype is gf.float32
    loss.backward()
    assert seen["linear_out"] is low and w.grad.dtype is gf.float32
    # the same gradient as float32 autograd, to the low dtype's precision
    w32 = w.detach().requires_grad_()
    F.cross_entropy(F.linear(x, w32), gf.tensor([0, 1, 2, 0], device=device)).backward()
    np.testing.assert_allclose(w.grad.numpy(), w32.grad.numpy(), rtol=0.05, atol=0.02)


def test_nested_disabled_and_decorator_regions():
    x = gf.randn(2, 3)
    with autocast("cpu", dtype=gf.float16):
        assert (x @ x.T).dtype is gf.float16
        with autocast("cpu", enabled=False):
            assert (x @ x.T).dtype is gf.float32
            with autocast("cpu", dtype=gf.bfloat16):
                assert (x @ x.T).dtype is gf.bfloat16
            assert not gf.amp.is_autocast_enabled("cpu")
        assert gf.amp.get_autocast_dtype("cpu") is gf.float16
        with autocast("cuda"):  # another device type: CPU tensors are left alone
            assert (x @ x.T).dtype is gf.float16
    assert (x @ x.T).dtype is gf.float32 and not gf.amp.is_autocast_enabled("cpu")

    @autocast("cpu", dtype=gf.bfloat16)
    def product(a):
        return a @ a.T

    assert product(x).dtype is gf.bfloat16 and (x @ x.T).dtype is gf.float32


def test_backward_inside_the_region_runs_in_forward_dtypes():
    w = gf.randn(3, 3, requires_grad=True)
    with autocast("cpu", dtype=gf.float16):
        (gf.randn(2, 3) @ w).sum().backward()
    assert w.grad.dtype is gf.float32


def test_autocast_rejects_bad_arguments():
    with pytest.raises(DTypeError, match="float16 or gf.bfloat16"):
        autocast("cpu", dtype=gf.float64)
    with pytest.raises(ConfigError, match="device_type"):
        autocast("tpu")


# -- bfloat16 on the CPU ----------------------------------------------------------------------

def test_bfloat16_tensors_and_checkpoints_on_cpu(tmp_path):
    pytest.importorskip("ml_dtypes")
    model = gf.nn.Linear(3, 2).to(gf.bfloat16)
    assert model.weight.dtype is gf.bfloat16
    out = model(gf.ones(4, 3, dtype=gf.bfloat16))
    assert out.dtype is gf.bfloat16
    out.sum().backward()
    assert model.weight.grad.dtype is gf.bfloat16
    path = tmp_path / "m.safetensors"
    gf.save(model.state_dict(), path)
    copy = gf.nn.Linear(3, 2).to(gf.bfloat16)
    copy.load_state_dict(gf.load(path))
    assert copy.weight.dtype is gf.bfloat16
    assert copy.weight.float().tolist() == model.weight.float().tolist()


# -- GradScaler ----------------------------------------------------------------------------------

def _scaler_run(make_scaler, steps, overflow_steps, framework):
    """Train a 2-layer net with loss scaling, injecting inf/NaN gradients at
    `overflow_steps`; returns per step (scale, skipped) and the final parameters."""
    rng = np.random.default_rng(3)
    w1, b1 = rng.standard_normal((6, 4)) * 0.5, rng.standard_normal(6) * 0.1
    w2, b2 = rng.standard_normal((3, 6)) * 0.5, rng.standard_normal(3) * 0.1
    xs = rng.standard_normal((steps, 8, 4)).astype(np.float32)
    ys = rng.integers(0, 3, (steps, 8))
    if framework == "torch":
        import torch

        params = [torch.tensor(a, dtype=torch.float32, requires_grad=True)
                  for a in (w1, b1, w2, b2)]
        as_t, tf, clip = torch.tensor, torch.nn.functional, torch.nn.utils.clip_grad_norm_
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    else:
        params = [gf.tensor(a.astype(np.float32), requires_grad=True) for a in (w1, b1, w2, b2)]
        as_t, tf = gf.tensor, F

        def clip(ps, max_norm):
            return gf.nn.utils.clip_grad_norm_(ps, max_norm, nonfinite="ignore")

        opt = gf.optim.SGD(params, lr=0.1, momentum=0.9)
    scaler = make_scaler()
    history = []
    for step in range(steps):
        opt.zero_grad()
        hidden = tf.relu(tf.linear(as_t(xs[step]), params[0], params[1]))
        loss = tf.cross_entropy(tf.linear(hidden, params[2], params[3]), as_t(ys[step]))
        scaler.scale(loss).backward()
        if step in overflow_steps:
            params[step % 4].grad.data[0] = math.inf if step % 2 else math.nan
        before = [p.detach().numpy().copy() for p in params]
        scaler.unscale_(opt)
        clip(params, 1.0)
        scaler.step(opt)
        skipped = all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, params))
        scaler.update()
        history.append((scaler.get_scale(), skipped))
    return history, [p.detach().numpy() for p in params], scaler.state_dict()


def test_grad_scaler_equals_torch_step_for_step():
    torch = pytest.importorskip("torch")
    options = {"init_scale": 2.0**10, "growth_factor": 2.0, "backoff_factor": 0.5,
               "growth_interval": 3}
    overflow = {2, 3, 9, 15}
    ours, our_params, our_state = _scaler_run(lambda: GradScaler(**options), 20, overflow, "gf")
    theirs, their_params, their_state = _scaler_run(
        lambda: torch.amp.GradScaler("cpu", **options), 20, overflow, "torch")
    assert ours == theirs  # scale values and skipped steps, exactly
    assert [skipped for _, skipped in ours] == [s in overflow for s in range(20)]
    assert len({scale for scale, _ in ours}) > 2  # it backed off and grew
    for a, b in zip(our_params, their_params):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert our_state == their_state


def test_grad_scaler_with_injected_infs():
    p = gf.ones(3, requires_grad=True)
    opt = gf.optim.SGD([p], lr=1.0)
    scaler = GradScaler(init_scale=8.0, growth_interval=2)
    # (scale during the step, inf injected, scale after update)
    plan = [(8.0, True, 4.0), (4.0, False, 4.0), (4.0, False, 8.0), (8.0, True, 4.0)]
    for scale, inject, after in plan:
        scaled = scaler.scale((p * 1.0).sum())  # (a sum alone gives a read-only grad view)
        assert scaler.get_scale() == scale and scaled.item() == p.sum().item() * scale
        scaled.backward()
        if inject:
            p.grad.data[1] = math.inf
        before = p.numpy().copy()
        scaler.step(opt)
        if inject:  # skipped: the parameters are untouched
            np.testing.assert_array_equal(p.numpy(), before)
        else:  # the step saw the unscaled gradient, ones
            np.testing.assert_array_equal(before - p.numpy(), np.ones(3))
        scaler.update()
        assert scaler.get_scale() == after
        opt.zero_grad()


def test_grad_scaler_misuse_and_state_dict():
    p = gf.zeros(2, requires_grad=True)
    opt = gf.optim.SGD([p], lr=0.1)
    scaler = GradScaler(init_scale=4.0)
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="no inf checks"):
        scaler.update()
    state = scaler.state_dict()
    other = GradScaler()
    other.load_state_dict(state)
    assert other.state_dict() == state == {"scale": 4.0, "growth_factor": 2.0,
                                           "backoff_factor": 0.5, "growth_interval": 2000,
                                           "_growth_tracker": 1}
    off = GradScaler(enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.state_dict() == {} and off.get_scale() == 1.0
    with pytest.raises(RuntimeError, match="empty"):
        GradScaler().load_state_dict({})
    for bad in ({"growth_factor": 1.0}, {"backoff_factor": 1.0}, {"growth_interval": 0},
                {"init_scale": 0.0}):
        with pytest.raises(ConfigError):
            GradScaler(**bad)
    half = gf.zeros(2, dtype=gf.float16, requires_grad=True)
    half.grad = gf.ones(2, dtype=gf.float16)
    with pytest.raises(DTypeError, match="float16 gradient"):
        GradScaler().unscale_(gf.optim.SGD([half], lr=0.1))


# -- a CNN trained under autocast ------------------------------------------------------------

def _train_digits_cnn(device, dtype, steps=600, batch=64):
    """The embedded 8x8 digits (Fashion-MNIST is too slow for the suite on 2 cores): a
    small CNN trained with Adam; returns test accuracy (397 held-out images)."""
    from gradflow.data.sources import load_digits
    from gradflow.models import cnn

    images, labels = load_digits()
    x = gf.tensor((images / 16.0).astype(np.float32)[:, None], device=device)
    y = gf.tensor(labels, device=device)
    gf.manual_seed(0)
    model = cnn(1, 8, 10, widths=(8, 16), hidden=32).to(device)
    opt = gf.optim.Adam(model.parameters(), lr=5e-3)
    scaler = GradScaler(enabled=dtype is gf.float16)
    region = {"device_type": _kind(device), "dtype": dtype or gf.float16,
              "enabled": dtype is not None}
    for step in range(steps):
        i = (step * batch) % (1400 - batch)
        with autocast(**region):
            loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    assert all(p.dtype is gf.float32 for p in model.parameters())
    with gf.no_grad(), autocast(**region):
        return (model(x[1400:]).argmax(1) == y[1400:]).float().mean().item()


@pytest.fixture(scope="module")
def float32_accuracy():
    return {}


@pytest.mark.parametrize("low", LOW, ids=lambda d: d.name)
def test_cnn_trains_under_autocast_within_a_point_of_float32(device, low, float32_accuracy):
    _need(device, low)
    if device not in float32_accuracy:
        float32_accuracy[device] = _train_digits_cnn(device, None)
    accuracy = _train_digits_cnn(device, low)
    assert float32_accuracy[device] > 0.9
    assert abs(accuracy - float32_accuracy[device]) <= 0.01, (accuracy, float32_accuracy)


# -- fit and the CLI -----------------------------------------------------------------------------

@pytest.mark.parametrize("low", LOW, ids=lambda d: d.name)
def test_fit_with_amp_trains_and_keeps_float32_parameters(low, tmp_path):
    from gradflow.data import DataLoader, TensorDataset
    from gradflow.train import fit

    gf.manual_seed(0)
    x = gf.randn(64, 6)
    y = (x[:, 0] > 0).long()
    model = gf.nn.Sequential(gf.nn.Linear(6, 16), gf.nn.ReLU(), gf.nn.Linear(16, 2))
    opt = gf.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=0)
    history = fit(model, loader, opt, gf.nn.CrossEntropyLoss(), 8, clip_grad_norm=1.0,
                  progress=False, plots=False, log=lambda *a: None, amp=True, amp_dtype=low)
    assert history["train_accuracy"][-1] > 0.9
    assert all(p.dtype is gf.float32 for p in model.parameters())


def test_cli_train_amp_options(tmp_path, capsys):
    from gradflow.cli import main

    assert main(["train", "--dataset", "digits", "--model", "mlp", "--device", "cpu",
                 "--epochs", "1", "--no-progress", "--amp", "--amp-dtype", "bfloat16",
                 "--out", str(tmp_path)]) == 0
    assert "test accuracy" in capsys.readouterr().out
