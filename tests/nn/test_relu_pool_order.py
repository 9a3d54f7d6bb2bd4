"""Sequential pools before ReLU where that changes nothing: the same values and gradients,
bit for bit, as ReLU then max-pool, on every device; hooks and return_indices keep the order."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn


class PlainReLU(nn.ReLU):
    """A ReLU subclass: Sequential never reorders it, so it gives the written order."""


def pair(relu_type, pool_kwargs=None):
    gf.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), relu_type(),
                         nn.MaxPool2d(2, **(pool_kwargs or {})), nn.Flatten())


@pytest.mark.parametrize("pool_kwargs", [{}, {"stride": 1}, {"padding": 1},
                                         {"ceil_mode": True}])
def test_pool_first_equals_relu_first_bit_for_bit(gradflow_device, pool_kwargs):
    fused, written = pair(nn.ReLU, pool_kwargs), pair(PlainReLU, pool_kwargs)
    fused.to(gradflow_device)
    written.to(gradflow_device)
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 7)).astype(np.float32)
    x[0, 0, 0, :3] = np.nan  # NaN propagates the same way in both orders
    x[1, 1, 2, 2] = 0.0
    outs, grads = [], []
    for model in (fused, written):
        inp = gf.tensor(x, device=gradflow_device, requires_grad=True)
        out = model(inp)
        out.sum().backward()
        outs.append(out.numpy())
        grads.append((inp.grad.numpy(), model[0].weight.grad.numpy()))
    np.testing.assert_array_equal(outs[0], outs[1])
    for a, b in zip(grads[0], grads[1]):
        np.testing.assert_array_equal(a, b)


def test_the_order_is_kept_where_a_hook_or_indices_would_see_it():
    seen = []
    model = pair(nn.ReLU)
    model[1].register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    model(gf.randn(1, 2, 4, 4))
    assert seen == [(1, 3, 4, 4)]  # ReLU saw the conv's output, not the pooled one
    with_indices = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))
    out, index = with_indices(gf.randn(1, 1, 4, 4))
    assert out.shape == index.shape == (1, 1, 2, 2)


def test_relu_runs_on_the_pooled_tensor():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    out = model(gf.randn(2, 3, 8, 8, requires_grad=True))
    assert out.creator.name.lower().startswith("relu")
    assert out.creator.inputs[0].shape == (2, 3, 4, 4)
