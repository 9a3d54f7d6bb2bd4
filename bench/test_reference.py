"""Checks of the benchmark references: NumPy gradients against PyTorch autograd, training
progress, float32 discipline and buffer reuse. Not part of the main suite; run with
``python -m pytest bench/test_reference.py``.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import reference_numpy
import reference_torch

RTOL = 1e-4
# Absolute slack relative to the largest gradient entry: float32 sums of thousands of terms
# in a different order differ by ~1e-6 of the largest term.
ATOL_FRACTION = 1e-5


def _assert_close(name: str, actual: np.ndarray, expected: np.ndarray) -> None:
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(
        actual, expected, rtol=RTOL, atol=ATOL_FRACTION * scale, err_msg=name
    )


# Layout converters, PyTorch -> NumPy reference (work on tensors and on arrays alike).
def _same(value):
    return value


def _linear_weight(value):
    # (out, in) <-> (in, out)
    return value.T


def _conv_weight_to_numpy(value):
    # (out, in, kh, kw) -> (kh, kw, in, out)
    return value.permute(2, 3, 1, 0)


def _conv_weight_to_torch(value):
    return value.transpose(3, 2, 0, 1)


def _fc1_weight_to_numpy(value):
    # torch flattens (c, h, w); the NHWC reference flattens (h, w, c).
    return value.reshape(128, 64, 7, 7).permute(2, 3, 1, 0).reshape(3136, 128)


def _fc1_weight_to_torch(value):
    return value.reshape(7, 7, 64, 128).transpose(3, 2, 0, 1).reshape(128, 3136)


def _mlp_params(model):
    """(NumPy name, torch parameter, torch->NumPy layout, NumPy->torch layout)."""
    params = []
    for layer, linear in enumerate(model[0::2]):
        params.append((f"w{layer}", linear.weight, _linear_weight, _linear_weight))
        params.append((f"b{layer}", linear.bias, _same, _same))
    return params


def _cnn_params(model):
    return [
        ("conv1_w", model[0].weight, _conv_weight_to_numpy, _conv_weight_to_torch),
        ("conv1_b", model[0].bias, _same, _same),
        ("conv2_w", model[3].weight, _conv_weight_to_numpy, _conv_weight_to_torch),
        ("conv2_b", model[3].bias, _same, _same),
        ("fc1_w", model[7].weight, _fc1_weight_to_numpy, _fc1_weight_to_torch),
        ("fc1_b", model[7].bias, _same, _same),
        ("fc2_w", model[9].weight, _linear_weight, _linear_weight),
        ("fc2_b", model[9].bias, _same, _same),
    ]


def _check_against_torch(numpy_model, torch_model, params, torch_inputs):
    """Load the NumPy weights into torch, run one forward/backward in both, compare."""
    import torch

    with torch.no_grad():
        for name, tensor, _, to_torch in params:
            value = np.ascontiguousarray(to_torch(numpy_model.params[name]))
            tensor.copy_(torch.from_numpy(value))
    loss = numpy_model.forward_backward()
    torch_loss = torch.nn.functional.cross_entropy(
        torch_model(torch_inputs), torch.from_numpy(numpy_model.labels)
    )
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    for name, tensor, to_numpy, _ in params:
        _assert_close(name, numpy_model.grads[name], to_numpy(tensor.grad).numpy())


@pytest.mark.torch
def test_mlp_gradients_match_torch():
    pytest.importorskip("torch")
    numpy_model = reference_numpy.NumpyMLP(batch=32, seed=1)
    torch_model = reference_torch.build_mlp()
    import torch

    inputs = torch.from_numpy(numpy_model.inputs)
    _check_against_torch(numpy_model, torch_model, _mlp_params(torch_model), inputs)


@pytest.mark.torch
@pytest.mark.parametrize("blank_rows", [0, 10], ids=["random", "blank-rows-ties"])
def test_cnn_gradients_match_torch(blank_rows):
    pytest.importorskip("torch")
    import torch

    numpy_model = reference_numpy.NumpyCNN(batch=8, seed=2)
    # Blank image rows make whole pooling windows tie; both must route to the same corner.
    numpy_model.inputs[:, :blank_rows] = 0.0
    torch_model = reference_torch.build_cnn()
    inputs = torch.from_numpy(np.ascontiguousarray(numpy_model.inputs.transpose(0, 3, 1, 2)))
    _check_against_torch(numpy_model, torch_model, _cnn_params(torch_model), inputs)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: reference_numpy.NumpyMLP(batch=32),
        lambda: reference_numpy.NumpyCNN(batch=8),
    ],
    ids=["mlp", "cnn"],
)
def test_loss_decreases_over_20_steps(make_model):
    model = make_model()
    losses = []
    for _ in range(20):
        losses.append(model.forward_backward())
        model.sgd_update()
    assert losses[-1] < 0.9 * losses[0], losses
    assert np.isfinite(losses).all()


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: reference_numpy.NumpyMLP(batch=128),
        lambda: reference_numpy.NumpyCNN(batch=8),
    ],
    ids=["mlp", "cnn"],
)
def test_float32_throughout_and_no_allocation_per_step(make_model):
    model = make_model()
    model.step()
    tracemalloc.start()
    try:
        model.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # NumPy's ufunc machinery may take an iteration buffer (8192 elements, ~33 KiB) for a
    # broadcast or casting operand; a float64 temporary or a fresh activation-sized buffer
    # would be 200 KiB or more at these batch sizes.
    assert peak < 100 * 1024, f"a step allocated up to {peak} bytes at once"
    arrays = model.arrays()
    assert any(name.startswith("conv") for name in arrays) or "activations[1]" in arrays
    for name, array in arrays.items():
        if name.endswith(("labels", "rows")):  # integer class labels and row indices
            continue
        assert array.dtype in (np.float32, np.bool_, np.uint8), (name, array.dtype)
    assert all(param.dtype == np.float32 for param in model.params.values())


def test_step_factories_run():
    reference_numpy.mlp_step_factory(batch=4)()
    reference_numpy.cnn_step_factory(batch=2)()


def test_chain_sequence():
    names = reference_torch.chain_op_names(200)
    assert len(names) == 200
    assert names[:5] == reference_torch.CHAIN_CYCLE
    assert names[-1] == "sigmoid"


@pytest.mark.torch
@pytest.mark.parametrize("n_ops", [200, 7])
def test_numpy_chain_matches_torch_chain(n_ops):
    pytest.importorskip("torch")
    numpy_out = reference_torch.numpy_chain_factory(n_ops=n_ops)()
    torch_out = reference_torch.chain_factory(n_ops=n_ops)()
    assert numpy_out.dtype == np.float32
    assert numpy_out.shape == (reference_torch.CHAIN_SIZE,)
    np.testing.assert_allclose(numpy_out, torch_out.numpy(), rtol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("channels_last", [False, True])
def test_torch_steps_run(channels_last):
    pytest.importorskip("torch")
    reference_torch.mlp_step_factory(batch=4)()
    reference_torch.cnn_step_factory(batch=2, channels_last=channels_last)()
