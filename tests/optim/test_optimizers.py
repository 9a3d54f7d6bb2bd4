"""Optimizers: PyTorch step-for-step parity, kernels, in-place updates, state dicts, validation."""

import math

import numpy as np
import pytest

import gradflow as gf
from gradflow import optim
from gradflow.backends import get_backend
from gradflow.backends.generic import Backend
from gradflow.errors import ConfigError, DeviceMismatchError, StateDictError
from gradflow.tensor import Tensor

DEVICES = ["cpu", "strict", "strict:device1"]
SHAPES = [(3, 4), (5,), ()]
STATE_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg",
              "grad_avg", "sum", "acc_delta", "exp_inf", "ax")

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1,
             "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.005, "centered": True, "momentum": 0.9, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "eps": 1e-8}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "maximize": True,
             "foreach": None}),
    ("SGD", {"lr": 0.05, "foreach": False}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05,
                "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1}),  # rectified from step 6
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 5, "weight_decay": 0.1,
              "maximize": True}),
]

GROUP_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}, [{}, {"lr": 0.01, "nesterov": True}]),
    ("NAdam", {"lr": 0.01}, [{"momentum_decay": 0.1}, {"decoupled_weight_decay": True,
                                                       "weight_decay": 0.1}]),
    ("ASGD", {"lr": 0.05, "t0": 3}, [{"lambd": 0.1}, {"alpha": 0.9}]),
    ("Adam", {"lr": 0.01}, [{"betas": (0.5, 0.9)}, {"amsgrad": True, "weight_decay": 0.1}]),
    ("RMSprop", {"lr": 0.01}, [{"centered": True}, {"momentum": 0.5, "alpha": 0.5}]),
]


def _data(seed=0, steps=20):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in SHAPES]
    # gradient = a * p + b: it depends on the trajectory, so errors compound
    coefs = [[(rng.uniform(0.5, 1.5, s), rng.standard_normal(s)) for s in SHAPES]
             for _ in range(steps)]
    return start, coefs


def _run_gradflow(name, options, group_options, device, start, coefs):
    params = [gf.tensor(x, device=device, requires_grad=True) for x in start]
    spec = [{"params": params}] if group_options is None else [
        {"params": params[:1], **group_options[0]}, {"params": params[1:], **group_options[1]}]
    opt = getattr(optim, name)(spec, **options)
    trajectory = []
    for step_coefs in coefs:
        for p, (a, b) in zip(params, step_coefs):
            p.grad = gf.tensor(a * p.numpy() + b, device=device)
        opt.step()
        trajectory.append([p.numpy() for p in params])
    return trajectory, opt, params


def _run_torch(torch, name, options, group_options, start, coefs):
    # NOTE: PyTorch keeps NAdam's mu_product and ASGD's eta and mu as tensors of the default
    # dtype; gradflow keeps them as Python floats, which a float64 default matches.
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _torch_trajectory(torch, name, options, group_options, start, coefs)
    finally:
        torch.set_default_dtype(default)


def _torch_trajectory(torch, name, options, group_options, start, coefs):
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    spec = [{"params": params}] if group_options is None else [
        {"params": params[:1], **group_options[0]}, {"params": params[1:], **group_options[1]}]
    opt = getattr(torch.optim, name)(spec, **options)
    trajectory = []
    for step_coefs in coefs:
        for p, (a, b) in zip(params, step_coefs):
            p.grad = torch.tensor(a * p.detach().numpy() + b)
        opt.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory, opt, params


def _compare_with_torch(name, options, group_options, device):
    torch = pytest.importorskip("torch")
    start, coefs = _data()
    ours, opt, params = _run_gradflow(name, options, group_options, device, start, coefs)
    theirs, torch_opt, torch_params = _run_torch(torch, name, options, group_options, start,
                                                 coefs)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=f"step {step + 1}")
    for p, tp in zip(params, torch_params):
        mine, reference = opt.state[p], torch_opt.state[tp]
        for key in STATE_KEYS:
            if reference.get(key) is not None:
                np.testing.assert_allclose(mine[key].numpy(), reference[key].numpy(),
                                           rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize(("name", "options"), CASES)
def test_matches_pytorch_for_20_steps(name, options, device_name):
    _compare_with_torch(name, options, None, device_name)


@pytest.mark.torch
@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize(("name", "options", "groups"), GROUP_CASES)
def test_param_groups_match_pytorch(name, options, groups, device_name):
    _compare_with_torch(name, options, groups, device_name)


# -- kernels -----------------------------------------------------------------------------

KERNEL_CASES = [
    ("sgd_step", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": False,
                  "weight_decay": 0.01, "maximize": True}, ["momentum_buffer"]),
    ("sgd_step", {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True,
                  "weight_decay": 0.0, "maximize": False}, ["momentum_buffer"]),
    ("sgd_step", {"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
                  "weight_decay": 0.1, "maximize": False}, [None]),
    ("adam_step", {"step": 3, "lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-8,
                   "weight_decay": 0.1, "amsgrad": True, "maximize": True,
                   "decoupled_weight_decay": False}, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
    ("adam_step", {"step": 1, "lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8,
                   "weight_decay": 0.1, "amsgrad": False, "maximize": False,
                   "decoupled_weight_decay": True}, ["exp_avg", "exp_avg_sq", None]),
    ("rmsprop_step", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.1,
                      "momentum": 0.5, "centered": True, "maximize": True},
     ["square_avg", "grad_avg", "buf"]),
    ("rmsprop_step", {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0,
                      "momentum": 0.0, "centered": False, "maximize": False},
     ["square_avg", None, None]),
    ("adagrad_step", {"step": 4, "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                      "eps": 1e-10, "maximize": True}, ["sum"]),
]


def _call_kernel(kernel, arrays, options):
    """kernel(param, grad, *states, [step,] options): the step count is positional."""
    options = dict(options)
    step = options.pop("step", None)
    return kernel(*arrays, *(() if step is None else (step,)), options)


def _kernel_inputs(state_names, dtype, seed=1):
    rng = np.random.default_rng(seed)
    param, grad = rng.standard_normal((2, 33, 7)).astype(dtype)
    bounds = {"grad_avg": (-0.3, 0.3)}  # keeps square_avg - grad_avg^2 positive
    states = [None if n is None else rng.uniform(*bounds.get(n, (0.5, 1.5)), (33, 7)).astype(dtype)
              for n in state_names]
    return param, grad, states


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "options", "states"), KERNEL_CASES)
def test_numpy_kernels_match_generic(name, options, states, dtype):
    backend = get_backend("cpu")
    param, grad, state = _kernel_inputs(states, dtype)

    def run(fn):
        args = (param.copy(), grad, *[None if s is None else s.copy() for s in state])
        out = _call_kernel(fn, args, options)
        assert out[0] is args[0]  # updated in place
        return out

    fast = run(getattr(backend, name))
    slow = run(lambda *a: getattr(Backend, name)(backend, *a))
    for a, b in zip(fast, slow):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == dtype
            rtol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


def test_numpy_sgd_first_momentum_step_copies_the_gradient():
    backend = get_backend("cpu")
    param, grad = np.ones(3, np.float32), np.full(3, 2.0, np.float32)
    out, buf = backend.sgd_step(param, grad, None, {
        "lr": 0.5, "momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0,
        "maximize": False})
    assert out is param and buf is not grad
    np.testing.assert_array_equal(buf, grad)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0])


@pytest.mark.gpu
@pytest.mark.parametrize(("name", "options", "states"),
                         [c for c in KERNEL_CASES if c[0] in ("sgd_step", "adam_step")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_kernels_match_generic(name, options, states, dtype):
    pytest.importorskip("cupy")
    if not gf.backends.cuda_available():
        pytest.skip("no CUDA GPU")
    backend = get_backend("cuda")
    param, grad, state = _kernel_inputs(states, dtype)

    def run(fn):
        on_gpu = [None if s is None else backend.from_host(s) for s in state]
        out = _call_kernel(fn, (backend.from_host(param), backend.from_host(grad), *on_gpu),
                           options)
        return [None if a is None else backend.to_host(a) for a in out]

    fast = run(getattr(backend, name))
    slow = run(lambda *a: getattr(Backend, name)(backend, *a))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(fast, slow):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


# -- updates in place, dtypes, versions ------------------------------------------------------

@pytest.mark.parametrize("device_name", DEVICES)
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
                                  "Adamax", "NAdam", "RAdam", "ASGD"])
def test_float32_update_in_place_on_the_parameters_device(name, device_name):
    p = gf.tensor(np.ones((4, 3), np.float32), device=device_name, requires_grad=True)
    array = p.data
    opt = getattr(optim, name)([p], lr=np.float64(0.1), **({"momentum": 0.9}
                                                              if name in ("SGD", "RMSprop")
                                                              else {}))
    assert type(opt.param_groups[0]["lr"]) is float
    opt.param_groups[0]["lr"] = np.float64(0.05)  # as a careless scheduler might
    for step in range(1, 3):
        p.grad = gf.tensor(np.full((4, 3), 0.5, np.float32), device=device_name)
        opt.step()
        assert p.data is array and p._version == step
    assert p.dtype is gf.float32 and p.device == get_backend(device_name).name
    for value in opt.state[p].values():
        if isinstance(value, Tensor):
            assert value.dtype is gf.float32 and value.device == p.device
    assert np.all(p.numpy() < 1.0)


class _OutOfPlace(Backend):
    inplace = False


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_out_of_place_backend_gives_the_same_values(name):
    import array_api_strict as xp

    backend = _OutOfPlace("strict-out-of-place", xp, xp.Device("CPU_DEVICE"))
    options = {"lr": 0.1, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.1}
    start = np.linspace(-1, 1, 6)
    p = Tensor._wrap(xp.asarray(start), backend, requires_grad=True)
    q = gf.tensor(start, requires_grad=True)
    opt, reference = getattr(optim, name)([p], **options), getattr(optim, name)([q], **options)
    for _ in range(3):
        before = p.data
        p.grad = Tensor._wrap(xp.asarray(start * 0.5), backend)
        q.grad = gf.tensor(start * 0.5)
        opt.step()
        reference.step()
        assert p.data is not before
        np.testing.assert_allclose(np.from_dlpack(p.data), q.numpy(), rtol=1e-14)
    assert p._version == 3


# -- options -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
@pytest.mark.parametrize("lr", ["0.1", -0.1, math.nan, math.inf, None, True])
def test_bad_lr_raises_config_error_naming_optimizer_and_option(name, lr):
    p = gf.zeros(2, requires_grad=True)
    with pytest.raises(ConfigError, match=rf"{name}.*lr="):
        getattr(optim, name)([p], lr=lr)


@pytest.mark.parametrize(("name", "options", "option"), [
    ("SGD", {"momentum": -0.5}, "momentum"),
    ("SGD", {"nesterov": True}, "nesterov"),
    ("SGD", {"weight_decay": math.nan}, "weight_decay"),
    ("Adam", {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    ("Adam", {"betas": (0.9,)}, "betas"),
    ("Adam", {"eps": -1e-8}, "eps"),
    ("AdamW", {"amsgrad": "yes"}, "amsgrad"),
    ("RMSprop", {"alpha": 1.5}, "alpha"),
    ("Adagrad", {"lr_decay": -1}, "lr_decay"),
])
def test_bad_options_raise_config_error(name, options, option):
    with pytest.raises(ConfigError, match=rf"{name}.*{option}"):
        getattr(optim, name)([gf.zeros(2, requires_grad=True)], **options)


def test_bad_parameter_lists():
    p = gf.zeros(2, requires_grad=True)
    with pytest.raises(ConfigError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ConfigError, match="single tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ConfigError, match="more than one"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ConfigError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ConfigError, match="unknown option"):
        optim.SGD([{"params": [p], "betas": (0.9, 0.9)}], lr=0.1)


def test_add_param_group_and_grad_checks():
    p, q = gf.ones(2, requires_grad=True), gf.ones(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 1.0})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 1.0
    q.grad = gf.ones(3)
    opt.step()  # p has no gradient: skipped
    assert p.tolist() == [1.0, 1.0] and q.tolist() == [0.0, 0.0, 0.0]
    p.grad, q.grad = gf.ones(2), gf.ones(3, device="strict")
    with pytest.raises(DeviceMismatchError, match="strict"):
        opt.step()
    assert p.tolist() == [1.0, 1.0] and p._version == 0  # checked first: nothing changed


def test_zero_grad_and_closure():
    p = gf.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    assert p.tolist() == [0.0, 0.0]
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


# -- state dicts -------------------------------------------------------------------------

def _trained(name, options, device, steps, start=None):
    start = start or [np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -0.25])]
    params = [gf.tensor(x, device=device, requires_grad=True) for x in start]
    opt = getattr(optim, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}],
                               **options)
    _steps(opt, params, steps)
    return opt, params


def _steps(opt, params, steps):
    for _ in range(steps):
        with gf.no_grad():
            for p in params:
                p.grad = p * 0.3 + 0.1
        opt.step()


@pytest.mark.parametrize(("name", "options"), [
    ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}), ("Adagrad", {"lr": 0.1})])
@pytest.mark.parametrize("device_name", ["cpu", "strict:device1"])
def test_state_dict_round_trip_resumes_exactly(name, options, device_name):
    _whole, whole_params = _trained(name, options, "cpu", 10)
    half, half_params = _trained(name, options, "cpu", 5)
    state = half.state_dict()
    assert state["param_groups"][1]["params"] == [1] and state["param_groups"][1]["lr"] == 0.02
    fresh_params = [gf.tensor(p.numpy(), device=device_name, requires_grad=True)
                    for p in half_params]
    fresh = getattr(optim, name)([{"params": fresh_params[:1]}, {"params": fresh_params[1:]}],
                                 **options)
    fresh.load_state_dict(state)
    assert fresh.param_groups[1]["lr"] == 0.02
    for p in fresh_params:
        for value in fresh.state[p].values():
            if isinstance(value, Tensor):
                assert value.device == p.device
    _steps(fresh, fresh_params, 5)
    for a, b in zip(fresh_params, whole_params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_load_state_dict_rejects_mismatches_and_changes_nothing():
    opt, _params = _trained("Adam", {"lr": 0.01}, "cpu", 2)
    good = opt.state_dict()
    before_state = {p: dict(s) for p, s in opt.state.items()}
    before_groups = [dict(g) for g in opt.param_groups]

    def broken(change):
        sd = {"state": {k: dict(v) for k, v in good["state"].items()},
              "param_groups": [dict(g) for g in good["param_groups"]]}
        change(sd)
        return sd

    cases = {
        "3 parameter group": lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])),
        "group 1 has 2 parameter": lambda sd: sd["param_groups"][1].update(params=[1, 2]),
        "shape": lambda sd: sd["state"][1].update(exp_avg=gf.zeros(3, dtype=gf.float64)),
        "lacks": lambda sd: sd["state"][0].pop("exp_avg_sq"),
        "lr=": lambda sd: sd["param_groups"][0].update(lr=-1.0),
        "no group lists": lambda sd: sd["state"].update({7: {}}),
    }
    for message, change in cases.items():
        with pytest.raises(StateDictError, match=message):
            opt.load_state_dict(broken(change))
        assert [dict(g) for g in opt.param_groups] == before_groups
        assert all(opt.state[p] == s for p, s in before_state.items())
    with pytest.raises(StateDictError):
        opt.load_state_dict({"state": {}})


def test_state_dict_holds_integer_steps_and_tensors():
    opt, _params = _trained("Adam", {"lr": 0.01}, "cpu", 3)
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 3 and isinstance(sd["state"][0]["exp_avg"], Tensor)
    assert sd["param_groups"][0]["params"] == [0]


def test_state_follows_the_parameter_to_another_device_and_dtype():
    from gradflow import nn

    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(gf.ones(1, 3)).sum().backward()
    opt.step()
    model.to("strict:device1").to(gf.float64)
    opt.zero_grad()
    model(gf.ones(1, 3, device="strict:device1", dtype=gf.float64)).sum().backward()
    opt.step()
    for p in model.parameters():
        assert p.device == "strict:device1" and p.dtype is gf.float64
        assert opt.state[p]["exp_avg"].device == p.device
        assert opt.state[p]["exp_avg"].dtype is gf.float64


@pytest.mark.torch
@pytest.mark.parametrize("device_name", ["cpu", "strict:device1"])
@pytest.mark.parametrize("name", ["SGD", "NAdam", "ASGD", "Adadelta"])
def test_add_param_group_mid_training_matches_pytorch(name, device_name):
    torch = pytest.importorskip("torch")
    start, coefs = _data(seed=3, steps=8)
    ours = [gf.tensor(x, device=device_name, requires_grad=True) for x in start]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # see _run_torch
    try:
        opts = [getattr(optim, name)(ours[:1], lr=0.05),
                getattr(torch.optim, name)(theirs[:1], lr=0.05)]
        for step, step_coefs in enumerate(coefs):
            if step == 3:  # the rest join with options of their own
                opts[0].add_param_group({"params": ours[1:], "lr": 0.02})
                opts[1].add_param_group({"params": theirs[1:], "lr": 0.02})
            for p, q, (a, b) in zip(ours, theirs, step_coefs):
                p.grad = gf.tensor(a * p.numpy() + b, device=device_name)
                q.grad = torch.tensor(a * q.detach().numpy() + b)
            opts[0].step()
            opts[1].step()
            for p, q in zip(ours, theirs):
                np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10,
                                           atol=1e-12, err_msg=f"step {step + 1}")
    finally:
        torch.set_default_dtype(default)
