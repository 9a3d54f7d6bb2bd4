"""Device-to-device training: the same CNN trained on two devices stays the same model."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import models, nn, optim
from gradflow.data import DataLoader, TensorDataset
from gradflow.testing import compare_training

pytest.importorskip("gradflow.nn.conv")


def _batches(count=5, batch=16, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 1, size, size)), rng.integers(0, 10, batch))
            for _ in range(count)]


def _make_cnn():
    return models.cnn(image_size=8, batch_norm=True, dropout=0.3, widths=(8, 16), hidden=32)


@pytest.mark.parametrize("dtype, tolerance", [(gf.float64, 1e-10), (gf.float32, 1e-4)],
                         ids=["float64", "float32"])
def test_cnn_with_batchnorm_and_dropout_trains_identically(device, dtype, tolerance):
    if device == "cpu":
        pytest.skip("cpu is the reference device")
    if dtype is gf.float64 and device.endswith("no_float64"):
        pytest.skip("no float64 on this device")
    report = compare_training(
        _make_cnn, _batches(), nn.CrossEntropyLoss(),
        lambda params: optim.SGD(params, lr=0.05, momentum=0.9),
        devices=("cpu", device), steps=50, dtype=dtype, clip_grad_norm=1.0, tolerance=tolerance)
    report.raise_if_failed()
    assert len(report.losses["cpu"]) == 50
    assert report.losses["cpu"][-1] < report.losses["cpu"][0]  # it did learn


def test_compare_training_names_the_first_divergence(monkeypatch):
    real_step = optim.SGD.step

    def skewed_step(self, *args, **kwargs):  # a device-specific bug in the update
        result = real_step(self, *args, **kwargs)
        for group in self.param_groups:
            for p in group["params"]:
                if p.device == "strict:device1" and p.ndim == 1:
                    with gf.no_grad():
                        p.mul_(1.0 + 1e-3)
        return result

    monkeypatch.setattr(optim.SGD, "step", skewed_step)
    report = compare_training(_make_cnn, _batches(), nn.CrossEntropyLoss(),
                              lambda params: optim.SGD(params, lr=0.05),
                              devices=("cpu", "strict:device1"), steps=3, dtype=gf.float64)
    assert not report.ok
    step, name, _ = report.first_divergence["strict:device1"]
    assert step == 0 and name.endswith("bias")
    with pytest.raises(AssertionError, match="parts at step 0"):
        report.raise_if_failed()


def test_random_streams_match_across_devices(device):
    def streams(on):
        gf.manual_seed(7)
        model = _make_cnn().to(on)
        weights = [p.numpy() for p in model.parameters()]
        mask = nn.functional.dropout(gf.ones(64, device=on), 0.5, training=True).numpy()
        data = TensorDataset(gf.arange(20, device=on))
        order = [b[0].tolist() for b in DataLoader(data, batch_size=5, shuffle=True, seed=3)]
        return weights, mask, order

    weights, mask, order = streams(device)
    ref_weights, ref_mask, ref_order = streams("cpu")
    for a, b in zip(weights, ref_weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask, ref_mask)
    assert order == ref_order
