"""LR schedulers: the lr (and momentum) sequences of PyTorch's, state dicts, validation."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import optim
from gradflow.errors import ConfigError, StateDictError
from gradflow.optim import lr_scheduler

STEPS = 50

CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 50}),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 8}),
    ("LinearLR", {"start_factor": 0.5, "end_factor": 0.2, "total_iters": 10}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "total_steps": STEPS, "anneal_strategy": "linear",
                    "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
    ("OneCycleLR", {"max_lr": 0.3, "epochs": 5, "steps_per_epoch": 10, "three_phase": True,
                    "base_momentum": 0.8, "max_momentum": [0.9, 0.99]}),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": STEPS, "cycle_momentum": False}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.9 ** epoch}),
    ("LambdaLR", {"lr_lambda": [lambda epoch: 1 / (epoch + 1), lambda epoch: 0.5]}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.95}),
    ("MultiplicativeLR", {"lr_lambda": [lambda epoch: 0.9, lambda epoch: 1 - epoch / 100]}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("ConstantLR", {}),
    ("PolynomialLR", {"total_iters": 10, "power": 2.0}),
    ("PolynomialLR", {}),
    ("CosineAnnealingWarmRestarts", {"T_0": 7}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.01}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}),
    ("CyclicLR", {"base_lr": [0.01, 0.02], "max_lr": 0.1, "step_size_up": 3,
                  "step_size_down": 5, "mode": "triangular2", "base_momentum": 0.7}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "mode": "exp_range",
                  "gamma": 0.97, "cycle_momentum": False}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2,
                  "scale_fn": lambda x: 1 / x, "scale_mode": "cycle"}),
]


def _groups(module, name, make):
    options = {"lr": 0.1, "momentum": 0.9} if name == "SGD" else {"lr": 0.1}
    return getattr(module, name)(
        [{"params": [make()]}, {"params": [make()], "lr": 0.02}], **options)


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def _sequence(opt, schedulers, metrics=None, steps=STEPS - 1):
    lrs, momenta = [schedulers[-1].get_last_lr()], [_momenta(opt)]
    for step in range(steps):
        opt.step()
        for scheduler in schedulers:
            if metrics is None:
                scheduler.step()
            else:
                scheduler.step(metrics[step])
        lrs.append(schedulers[-1].get_last_lr())
        momenta.append(_momenta(opt))
    return np.array(lrs), np.array(momenta)


def _both(optimizer, specs, metrics=None):
    torch = pytest.importorskip("torch")
    ours_opt = _groups(optim, optimizer, lambda: gf.zeros(2, requires_grad=True))
    theirs_opt = _groups(torch.optim, optimizer, lambda: torch.zeros(2, requires_grad=True))
    ours = [getattr(lr_scheduler, n)(ours_opt, **kw) for n, kw in specs]
    theirs = [getattr(torch.optim.lr_scheduler, n)(theirs_opt, **kw) for n, kw in specs]
    return _sequence(ours_opt, ours, metrics), _sequence(theirs_opt, theirs, metrics)


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize(("name", "options"), CASES)
def test_lr_sequence_matches_pytorch(name, options, optimizer):
    (lrs, momenta), (torch_lrs, torch_momenta) = _both(optimizer, [(name, options)])
    assert lrs.shape == (STEPS, 2)
    np.testing.assert_allclose(lrs, torch_lrs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(momenta, torch_momenta, rtol=1e-12)


@pytest.mark.torch
def test_chained_schedulers_match_pytorch():
    specs = [("LinearLR", {"start_factor": 0.2, "total_iters": 5}),
             ("ExponentialLR", {"gamma": 0.9})]
    (lrs, _), (torch_lrs, _) = _both("SGD", specs)
    np.testing.assert_allclose(lrs, torch_lrs, rtol=1e-12)


PLATEAU_CASES = [
    {"mode": "min", "factor": 0.5, "patience": 2, "cooldown": 1},
    {"mode": "min", "factor": 0.3, "patience": 0, "threshold": 0.05, "threshold_mode": "abs",
     "min_lr": [0.01, 0.001]},
    {"mode": "max", "factor": 0.1, "patience": 3, "threshold": 0.01, "min_lr": 1e-4},
    {"mode": "max", "patience": 1, "threshold_mode": "abs", "cooldown": 3},
]


@pytest.mark.torch
@pytest.mark.parametrize("options", PLATEAU_CASES)
def test_reduce_on_plateau_matches_pytorch(options):
    rng = np.random.default_rng(3)
    trend = np.concatenate([np.linspace(1.0, 0.5, 15), np.full(35, 0.5)])
    metrics = (trend + rng.normal(0, 0.02, STEPS)).tolist()
    (lrs, _), (torch_lrs, _) = _both("SGD", [("ReduceLROnPlateau", options)], metrics)
    np.testing.assert_allclose(lrs, torch_lrs, rtol=1e-12)
    assert lrs[-1, 0] < lrs[0, 0]  # it did cut


def test_plateau_takes_a_tensor_metric():
    opt = optim.SGD([gf.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for value in (1.0, 1.0, 1.0):
        sched.step(gf.tensor(value))
    assert sched.get_last_lr() == [0.25]


@pytest.mark.parametrize(("name", "options"), CASES[:8] + [
    ("ReduceLROnPlateau", {"patience": 1, "cooldown": 2})])
def test_state_dict_resumes_the_schedule(name, options):
    def build():
        opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
        return opt, getattr(lr_scheduler, name)(opt, **options)

    metrics = [1.0 / (1 + i % 7) for i in range(40)]
    plateau = name == "ReduceLROnPlateau"
    whole_opt, whole = build()
    _sequence(whole_opt, [whole], metrics if plateau else None, steps=30)
    half_opt, half = build()
    _sequence(half_opt, [half], metrics if plateau else None, steps=12)
    opt_state, sched_state = half_opt.state_dict(), half.state_dict()
    assert "optimizer" not in sched_state
    new_opt, new = build()
    new_opt.load_state_dict(opt_state)
    new.load_state_dict(sched_state)
    _sequence(new_opt, [new], metrics[12:] if plateau else None, steps=18)
    assert new.get_last_lr() == whole.get_last_lr()
    assert [g["lr"] for g in new_opt.param_groups] == whole.get_last_lr()


def test_scheduler_load_state_dict_rejects_unknown_keys():
    opt = optim.SGD([gf.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    before = sched.state_dict()
    with pytest.raises(StateDictError, match="bogus"):
        sched.load_state_dict({**before, "bogus": 1})
    assert sched.state_dict() == before


@pytest.mark.parametrize(("make", "match"), [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size"),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma="0.9"), "gamma"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), "eta_min"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0.0), "start_factor"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), "total_steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
     "anneal_strategy"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.2, 0.3], total_steps=5), "max_lr"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="avg"), "mode"),
    (lambda o: lr_scheduler.StepLR(object(), step_size=1), "Optimizer"),
])
def test_bad_scheduler_options_raise_config_error(make, match):
    opt = optim.SGD([gf.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
    with pytest.raises(ConfigError, match=match):
        make(opt)


def test_one_cycle_needs_momentum_and_stops_at_total_steps():
    opt = optim.Adagrad([gf.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ConfigError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3, cycle_momentum=False)
    for _ in range(3):
        sched.step()
    with pytest.raises(ConfigError, match="total_steps"):
        sched.step()


def test_lrs_stay_python_floats():
    opt = optim.SGD([gf.zeros(1, requires_grad=True)], lr=np.float32(0.5), momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=np.float64(1.0), total_steps=10)
    sched.step()
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and type(group["momentum"]) is float


COMPOSITES = [
    pytest.param(lambda m, opt: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5), m.ExponentialLR(opt, 0.9)],
        milestones=[5]), id="sequential-warmup-exponential"),
    pytest.param(lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt, 0.5, 3), m.CosineAnnealingLR(opt, T_max=10),
              m.StepLR(opt, 3, 0.5)], milestones=[4, 12]), id="sequential-three"),
    pytest.param(lambda m, opt: m.SequentialLR(
        opt, [m.MultiplicativeLR(opt, lambda e: 0.9), m.PolynomialLR(opt, 8, 1.5)],
        milestones=[6]), id="sequential-multiplicative-polynomial"),
    pytest.param(lambda m, opt: m.ChainedScheduler(
        [m.ConstantLR(opt, 0.5, 4), m.ExponentialLR(opt, 0.9)]), id="chained"),
    pytest.param(lambda m, opt: m.ChainedScheduler(
        [m.LinearLR(opt, 0.2, total_iters=6), m.CosineAnnealingWarmRestarts(opt, 4),
         m.MultiStepLR(opt, [10, 20], 0.5)], optimizer=opt), id="chained-three"),
]


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("build", COMPOSITES)
def test_sequential_and_chained_match_pytorch(build, optimizer):
    torch = pytest.importorskip("torch")
    ours_opt = _groups(optim, optimizer, lambda: gf.zeros(2, requires_grad=True))
    theirs_opt = _groups(torch.optim, optimizer, lambda: torch.zeros(2, requires_grad=True))
    ours = build(lr_scheduler, ours_opt)
    theirs = build(torch.optim.lr_scheduler, theirs_opt)
    assert isinstance(ours, lr_scheduler.LRScheduler)
    (lrs, _), (torch_lrs, _) = _sequence(ours_opt, [ours]), _sequence(theirs_opt, [theirs])
    np.testing.assert_allclose(lrs, torch_lrs, rtol=1e-12, atol=1e-15)


def test_warm_restarts_with_fractional_epochs_match_pytorch():
    torch = pytest.importorskip("torch")
    ours_opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
    theirs_opt = _groups(torch.optim, "SGD", lambda: torch.zeros(2, requires_grad=True))
    ours = lr_scheduler.CosineAnnealingWarmRestarts(ours_opt, T_0=3, T_mult=2)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs_opt, T_0=3, T_mult=2)
    for epoch in [0.25, 0.5, 1, 2.75, 3, 4.5, 9, 10.1, 2]:
        ours.step(epoch)
        theirs.step(epoch)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("build", COMPOSITES[:2] + COMPOSITES[3:4])
def test_composite_state_dict_round_trip_through_gf_save(tmp_path, build):
    opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
    sched = build(lr_scheduler, opt)
    for _ in range(7):
        sched.step()
    gf.save({"scheduler": sched.state_dict(), "optimizer": opt.state_dict()},
            tmp_path / "s.safetensors")
    saved = gf.load(tmp_path / "s.safetensors")
    other_opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
    other = build(lr_scheduler, other_opt)
    other_opt.load_state_dict(saved["optimizer"])
    other.load_state_dict(saved["scheduler"])
    for _ in range(5):
        sched.step()
        other.step()
        assert other.get_last_lr() == sched.get_last_lr()


def test_lambda_state_dict_leaves_functions_out(tmp_path):
    opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
    sched = lr_scheduler.LambdaLR(opt, lambda epoch: 0.5 ** epoch)
    sched.step()
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, None] and state["last_epoch"] == 1
    gf.save(state, tmp_path / "l.safetensors")
    sched.load_state_dict(gf.load(tmp_path / "l.safetensors"))
    with pytest.raises(StateDictError, match="last_epoch"):
        sched.load_state_dict({**state, "last_epoch": "x"})


@pytest.mark.parametrize("make, phrase", [
    (lambda opt: lr_scheduler.LambdaLR(opt, [lambda e: 1.0]), "1 lr_lambda functions for 2"),
    (lambda opt: lr_scheduler.MultiplicativeLR(opt, 0.9), "function"),
    (lambda opt: lr_scheduler.ConstantLR(opt, factor=1.5), "factor"),
    (lambda opt: lr_scheduler.PolynomialLR(opt, total_iters=0), "total_iters"),
    (lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=0), "T_0"),
    (lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=1.5), "T_mult"),
    (lambda opt: lr_scheduler.CyclicLR(opt, 0.1, 1.0, mode="sawtooth"), "mode"),
    (lambda opt: lr_scheduler.SequentialLR(opt, [lr_scheduler.ConstantLR(opt)], [3]),
     "milestones"),
    (lambda opt: lr_scheduler.ChainedScheduler([]), "at least one"),
    (lambda opt: lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(opt)]),
     "ReduceLROnPlateau"),
])
def test_new_scheduler_options_are_checked(make, phrase):
    opt = _groups(optim, "SGD", lambda: gf.zeros(2, requires_grad=True))
    with pytest.raises(ConfigError, match=phrase):
        make(opt)
