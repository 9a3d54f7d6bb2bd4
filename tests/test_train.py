"""fit() never lets a NaN or Inf gradient reach the weights; its plots leave matplotlib alone."""

import math

import pytest

import gradflow as gf
from gradflow import nn, optim
from gradflow.data import DataLoader, TensorDataset
from gradflow.errors import NonFiniteError
from gradflow.train import fit


def _exploding_setup():
    gf.manual_seed(0)
    x, y = gf.randn(64, 4), gf.zeros(64, dtype=gf.int64)
    model = nn.Sequential(nn.Linear(4, 2))
    with gf.no_grad():
        model[0].weight.copy_(gf.full((2, 4), 1e38))
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    return model, loader, optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("clip", [None, 1.0])
def test_raise_leaves_weights_untouched(clip):
    model, loader, opt = _exploding_setup()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteError):
        fit(model, loader, opt, nn.CrossEntropyLoss(), 1, clip_grad_norm=clip,
            progress=False, log=None, plots=False)
    for k, v in model.state_dict().items():
        assert (v.numpy() == before[k]).all(), k


@pytest.mark.parametrize("clip", [None, 1.0])
def test_skip_counts_steps_and_keeps_weights_finite(clip):
    model, loader, opt = _exploding_setup()
    history = fit(model, loader, opt, nn.CrossEntropyLoss(), 1, clip_grad_norm=clip,
                  nonfinite="skip", progress=False, log=None, plots=False)
    assert history["skipped_steps"] == [2]
    for value in model.state_dict().values():
        assert all(math.isfinite(v) for v in value.numpy().ravel())


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    from gradflow.train import History, plot_grad_norms, plot_history

    before = matplotlib.get_backend()
    history = History()
    history["epoch"].extend([1, 2])
    history["train_loss"].extend([1.0, 0.5])
    history["train_accuracy"].extend([0.5, 0.7])
    history["grad_norm_steps"].extend([0, 10])
    for layer in range(12):  # more lines than the default colour cycle
        history["grad_norms"][f"{layer}.weight"] = [1.0 / (layer + 1), 0.5 / (layer + 1)]
    written = plot_history(history, tmp_path)
    assert [p.name for p in written] == ["curves.png", "grad_norms.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert plot_grad_norms(history, tmp_path / "n.png").exists()
    assert matplotlib.get_backend() == before
