"""nn.init: in place, on the tensor's device, from gradflow's generator; same seed, same model."""

import math

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.errors import ConfigError, ShapeError


def build(device):
    return nn.Sequential(nn.Linear(7, 16, device=device), nn.ReLU(),
                         nn.BatchNorm1d(16, device=device), nn.Embedding(5, 3, device=device),
                         nn.Linear(16, 3, device=device, dtype=gf.float64))


def test_same_seed_builds_bit_identical_models_on_cpu_and_strict_device():
    states = []
    for device in ("cpu", "strict:device1"):
        gf.manual_seed(1234)
        model = build(device)
        assert model[0].weight.device == device
        states.append({k: v.numpy() for k, v in model.state_dict().items()})
    assert list(states[0]) == list(states[1])
    for key in states[0]:
        np.testing.assert_array_equal(states[0][key], states[1][key], err_msg=key)


@pytest.mark.parametrize("fill", [
    lambda t, g: nn.init.uniform_(t, -2.0, 3.0, generator=g),
    lambda t, g: nn.init.normal_(t, 1.0, 0.5, generator=g),
    lambda t, g: nn.init.xavier_uniform_(t, generator=g),
    lambda t, g: nn.init.xavier_normal_(t, gain=2.0, generator=g),
    lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
    lambda t, g: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g),
])
def test_every_random_init_is_identical_across_devices(device, fill):
    here = gf.zeros(6, 5, device=device)
    there = gf.zeros(6, 5)
    fill(here, gf.Generator(9))
    fill(there, gf.Generator(9))
    assert here.device == gf.zeros(1, device=device).device
    np.testing.assert_array_equal(here.numpy(), there.numpy())


def test_init_is_in_place_and_records_nothing():
    weight = nn.Parameter(gf.zeros(4, 3))
    version = weight._version
    out = nn.init.kaiming_uniform_(weight)
    assert out is weight and weight.is_leaf and weight.requires_grad
    assert weight._version > version and weight.numpy().any()
    nn.init.zeros_(weight)
    assert not weight.numpy().any()
    nn.init.ones_(weight)
    nn.init.constant_(weight, 0.25)
    assert (weight.numpy() == 0.25).all()


def test_generator_argument_leaves_the_global_generator_alone():
    gf.manual_seed(0)
    expected = gf.rand(3).numpy()
    gf.manual_seed(0)
    nn.init.normal_(gf.zeros(10), generator=gf.Generator(1))
    np.testing.assert_array_equal(gf.rand(3).numpy(), expected)


def test_distributions_have_the_documented_bounds_and_spread():
    gen = gf.Generator(3)
    w = nn.init.uniform_(gf.zeros(200, 100), -0.5, 0.25, generator=gen).numpy()
    assert w.min() >= -0.5 and w.max() < 0.25
    w = nn.init.normal_(gf.zeros(200, 100, dtype=gf.float64), 2.0, 0.1, generator=gen).numpy()
    assert w.dtype == np.float64 and abs(w.mean() - 2.0) < 0.01 and abs(w.std() - 0.1) < 0.01
    w = nn.init.xavier_uniform_(gf.zeros(30, 20, 3, 3), generator=gen).numpy()
    assert np.abs(w).max() <= math.sqrt(6.0 / (20 * 9 + 30 * 9))
    w = nn.init.kaiming_normal_(gf.zeros(300, 200), nonlinearity="relu", generator=gen).numpy()
    assert abs(w.std() - math.sqrt(2.0 / 200)) < 0.05 * math.sqrt(2.0 / 200)
    w = nn.init.kaiming_uniform_(gf.zeros(30, 50), mode="fan_out", nonlinearity="tanh",
                                 generator=gen).numpy()
    bound = 5.0 / 3.0 * math.sqrt(3.0 / 30)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


def test_calculate_gain():
    assert nn.init.calculate_gain("linear") == 1.0
    assert nn.init.calculate_gain("conv2d") == 1.0
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5.0 / 3.0)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2.0 / 1.04))
    assert nn.init.calculate_gain("selu") == 0.75
    with pytest.raises(ConfigError, match="unknown nonlinearity"):
        nn.init.calculate_gain("swish")


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.3), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))


def test_fan_errors():
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(gf.zeros(5))
    with pytest.raises(ConfigError, match="mode"):
        nn.init.kaiming_uniform_(gf.zeros(2, 2), mode="fan_avg")
